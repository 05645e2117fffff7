/** Job records and their wire shapes. A job lives in state at `jobs/<id>`. */
import { z } from 'zod'

export const JOB_STATUSES = ['queued', 'claimed', 'running', 'succeeded', 'failed', 'cancelled'] as const
export type JobStatus = typeof JOB_STATUSES[number]
export const TERMINAL: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled'])

export const kindSchema = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'job kinds are lowercase words')

export interface JobClaim { peer: string, until: number, attempt: number }

export interface Job {
  id: string
  kind: string
  selector: string
  spec: unknown
  status: JobStatus
  attempts: number
  maxAttempts: number
  claim: JobClaim | null
  result: unknown
  error: { code: string, message: string } | null
  submitter: string
  createdAt: number
  updatedAt: number
  notBefore: number
  /** A finished job's log when it is short (a long one is at `joblogs/<id>`). */
  logs?: { lines: LogLine[], truncated: boolean }
}

/** What each agent says about the job kinds it runs: `agents/<peerId>`. */
export interface AgentJobInfo { kinds: string[], capacity: Record<string, number> }

export const JOBS_PREFIX = 'jobs/'
export const CANCEL_PREFIX = 'jobcancel/'
export const CLAIMS_PREFIX = 'jobclaims/'
export const REASON_PREFIX = 'jobreason/'
export const LOGS_PREFIX = 'joblogs/'
export const AGENTS_PREFIX = 'agents/'
export const jobLogsTopic = (meshId: string): string => `/ctpf/${meshId}/joblogs/1`

export interface LogLine { id: string, seq: number, at: number, line: string }
