/** The commented starter configuration that `gatehouse init` writes. */
export function starterConfig(): string {
  return `# Gatehouse configuration. Reference: schema/gatehouse.schema.json; check with \`gatehouse config validate\`.
# Strings may use \${VAR} (environment), \${VAR:-default}, and $\${ for a literal "\${".
# \${GATEHOUSE_STATE_DIR} and \${GATEHOUSE_CONFIG_DIR} name the state and config directories.
version: 1

gateway:
  listen: { host: 127.0.0.1, port: 8765 }   # keep loopback until identity (OAuth) is configured
  # publicUrl: https://mcp.example.com      # the URL clients use; its host and origin are allowed
  stateDir: .gatehouse                      # SQLite database and scratch space, relative to this file
  # allowedOrigins: []                      # browser origins allowed besides the gateway itself
  # allowedHosts: []                        # Host headers allowed besides loopback and publicUrl
  # namespaceSeparator: "__"                # tools are exposed as <server>__<tool>
  # maxBodyBytes: 4194304                   # largest accepted request body
  # maxJsonDepth: 64                        # deepest accepted JSON nesting
  # sessionIdleSeconds: 3600                # legacy (2025-11-25) sessions expire after this much idle time
  # pageSize: 500                           # items per page in tools/list and friends
  # allowUnauthenticated: loopback          # loopback | never

storage:
  driver: sqlite                            # sqlite (embedded) | postgres (several replicas)
  # sqlitePath: gatehouse.db                # relative to stateDir
  # postgresUrl: \${DATABASE_URL}

servers:
  # A stdio server: Gatehouse starts it, passes only the environment listed here (plus inheritEnv),
  # and restarts it with backoff when it exits.
  - name: everything
    transport: stdio
    command: npx
    args: ["--no", "mcp-server-everything", "stdio"]
    # env: { API_TOKEN: "\${EVERYTHING_TOKEN}" }
    # cwd: .
    # timeouts: { connectMs: 15000, requestMs: 60000, maxTotalMs: 300000 }
    # restart: { initialDelayMs: 500, maxDelayMs: 30000 }

  # A remote server over Streamable HTTP (either MCP era; Gatehouse probes which):
  # - name: remote
  #   transport: http
  #   url: https://mcp.example.com/mcp
  #   headers: { X-Team: platform }

  # A legacy HTTP+SSE (2024-11-05) server:
  # - name: old
  #   transport: sse
  #   url: http://127.0.0.1:3001/sse
`;
}
