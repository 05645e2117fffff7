/** The dashboard's page: static, no data. Everything it shows comes from /v1 after login. */
export const INDEX_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ctpf</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/style.css">
<script type="module" src="/ui/app.js"></script>
</head>
<body>
<header>
  <h1>ctpf</h1>
  <span id="self" class="self"></span>
  <nav id="nav" hidden>
    <button type="button" data-view="mesh">Mesh</button>
    <button type="button" data-view="jobs">Jobs</button>
    <button type="button" data-view="artifacts">Artifacts</button>
    <button type="button" data-view="hosts">Hosts</button>
  </nav>
  <span id="live" class="badge" hidden>offline</span>
  <button type="button" id="logout" hidden>Log out</button>
</header>
<main>
  <p id="error" class="error" role="alert" hidden></p>

  <section id="login" hidden>
    <form id="login-form" autocomplete="off">
      <h2>Log in</h2>
      <p>Paste this agent's control token. It is in <code>&lt;data-dir&gt;/control.token</code>.</p>
      <label for="token">Control token</label>
      <input type="password" id="token" name="token" required spellcheck="false" autocomplete="off">
      <button type="submit">Log in</button>
      <p id="login-error" class="error" role="alert"></p>
    </form>
  </section>

  <section id="view-mesh" class="view" hidden>
    <h2>Mesh</h2>
    <table id="mesh-table">
      <thead><tr><th>Agent</th><th>Role</th><th>DC</th><th>Tags</th><th>Caps</th><th>Path</th><th>Address</th></tr></thead>
      <tbody id="mesh-rows"></tbody>
    </table>
  </section>

  <section id="view-jobs" class="view" hidden>
    <h2>Jobs</h2>
    <form id="probe-form" class="inline" autocomplete="off">
      <label for="probe-selector">Run a probe on</label>
      <input id="probe-selector" name="selector" placeholder="any agent, or e.g. dc=nbg1" spellcheck="false" maxlength="1024">
      <button type="submit">Run probe</button>
      <span id="probe-error" class="error" role="alert"></span>
    </form>
    <table id="jobs-table">
      <thead><tr><th>Job</th><th>Kind</th><th>Selector</th><th>Status</th><th>Attempts</th><th>Runner</th><th>Updated</th></tr></thead>
      <tbody id="jobs-rows"></tbody>
    </table>
    <p id="jobs-empty" class="empty" hidden>No jobs yet.</p>
    <div id="job-detail" hidden>
      <h3><span id="job-title"></span> <span id="job-status" class="status"></span></h3>
      <ol id="job-log" class="log"></ol>
      <p id="job-log-end" class="empty" hidden>End of log.</p>
    </div>
  </section>

  <section id="view-artifacts" class="view" hidden>
    <h2>Artifacts</h2>
    <table id="pins-table">
      <thead><tr><th>CID</th><th>Blocks</th><th>Size</th><th>Pinned</th></tr></thead>
      <tbody id="pins-rows"></tbody>
    </table>
    <p id="pins-empty" class="empty" hidden>Nothing is pinned on this agent.</p>
    <h2>Names</h2>
    <table id="names-table">
      <thead><tr><th>Name</th><th>CID</th><th>Set</th><th>By</th></tr></thead>
      <tbody id="names-rows"></tbody>
    </table>
    <p id="names-empty" class="empty" hidden>No names.</p>
  </section>

  <section id="view-hosts" class="view" hidden>
    <h2>Hosts</h2>
    <p id="hosts-empty" class="empty" hidden></p>
    <table id="hosts-table" hidden>
      <thead><tr><th>Host</th><th>MAC</th><th>DC</th><th>Status</th><th>Lifecycle</th><th>Profile</th><th>Addresses</th><th>Last seen</th></tr></thead>
      <tbody id="hosts-rows"></tbody>
    </table>
  </section>

  <section id="activity" hidden>
    <h2>Events</h2>
    <ol id="event-feed" class="feed"></ol>
  </section>
</main>
</body>
</html>
`
