/** Errors of the membership protocols. Tests assert on `code`. */
export class MembershipError extends Error {
  constructor (readonly code: string, message: string) {
    super(message)
    this.name = 'MembershipError'
  }
}

export class TokenMalformedError extends MembershipError {
  constructor (why: string) { super('TOKEN_MALFORMED', `invite token is malformed: ${why}`); this.name = 'TokenMalformedError' }
}
export class TokenForgedError extends MembershipError {
  constructor (why = 'signature does not verify') { super('TOKEN_FORGED', `invite token is forged: ${why}`); this.name = 'TokenForgedError' }
}
export class TokenExpiredError extends MembershipError {
  constructor (at: number) { super('TOKEN_EXPIRED', `invite token expired at ${new Date(at).toISOString()}`); this.name = 'TokenExpiredError' }
}
export class TokenReusedError extends MembershipError {
  constructor () { super('TOKEN_REUSED', 'invite token was already used (tokens are single-use)'); this.name = 'TokenReusedError' }
}
export class TokenForeignMeshError extends MembershipError {
  constructor (tokenMesh: string, ourMesh: string) { super('TOKEN_FOREIGN_MESH', `invite token is for mesh ${tokenMesh}, this agent belongs to mesh ${ourMesh}`); this.name = 'TokenForeignMeshError' }
}
export class TokenWrongInviterError extends MembershipError {
  constructor () { super('TOKEN_WRONG_INVITER', 'invite token was issued by another agent; present it to its inviter'); this.name = 'TokenWrongInviterError' }
}
export class PeerRevokedError extends MembershipError {
  constructor (peer: string) { super('PEER_REVOKED', `peer ${peer} is revoked from this mesh`); this.name = 'PeerRevokedError' }
}
export class NotAdminError extends MembershipError {
  constructor (what: string) { super('NOT_ADMIN', `${what} needs the admin capability`); this.name = 'NotAdminError' }
}
export class RecordInvalidError extends MembershipError {
  constructor (why: string) { super('RECORD_INVALID', `membership record refused: ${why}`); this.name = 'RecordInvalidError' }
}
export class JoinFailedError extends MembershipError {
  constructor (code: string, message: string) { super(code, message); this.name = 'JoinFailedError' }
}
