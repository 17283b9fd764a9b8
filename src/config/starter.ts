/** The commented starter configuration that `gatehouse init` writes: every option, briefly explained. */
export function starterConfig(): string {
  return `# Gatehouse configuration. Reference: schema/gatehouse.schema.json; check it with \`gatehouse config validate\`.
# Any string value may use \${VAR} (from the environment) or \${VAR:-default}; write $\${ for a literal "\${".
# An unquoted reference that yields a number or true/false is read as one (port: \${PORT:-8765}).
# \${GATEHOUSE_STATE_DIR} and \${GATEHOUSE_CONFIG_DIR} name the state directory and this file's directory.
version: 1

gateway:
  listen:
    host: 127.0.0.1                         # keep loopback until identity (OAuth) is configured
    port: 8765
  # publicUrl: https://mcp.example.com      # the URL clients use; its host and origin are allowed
  stateDir: .gatehouse                      # database and scratch space, relative to this file
  # allowedOrigins: []                      # browser origins allowed besides the gateway itself (exact match)
  # allowedHosts: []                        # Host headers allowed besides loopback names and publicUrl
  # namespaceSeparator: "__"                # tools are exposed as <server>__<tool>
  # maxBodyBytes: 4194304                   # largest accepted request body (4 MiB)
  # maxBufferedRequestBytes: 268435456      # request bytes held at once, a tenant at most half (default: 1/8 of the heap limit)
  # maxJsonDepth: 64                        # deepest accepted JSON nesting
  # sessionIdleSeconds: 3600                # legacy (2025-11-25) sessions end after this much idle time
  # pageSize: 500                           # items per page in tools/list and the other listings
  # allowUnauthenticated: loopback          # loopback | never: who is served while no identity is configured
  # trustedProxies: []                      # your reverse proxies' addresses (Forwarded / X-Forwarded-For from them only)
  # maxConnections: 16384                   # HTTP connections at once (default: from the open-file limit)
  # maxConnectionsPerAddress: 256           # HTTP connections at once from one address (IPv6: its /64; a trusted proxy's: total only)

storage:
  driver: sqlite                            # sqlite (embedded, one gateway) | postgres (several replicas)
  # sqlitePath: gatehouse.db                # relative to stateDir
  # postgresUrl: \${DATABASE_URL}            # required with driver: postgres

servers:
  # A stdio server: Gatehouse starts it sandboxed, with only the environment below plus inheritEnv,
  # and restarts it with backoff when it exits. This one needs @modelcontextprotocol/server-everything
  # installed (npm install @modelcontextprotocol/server-everything); npx --no never downloads.
  - name: everything                        # lowercase letters, digits, _ and -; tools become everything__<tool>
    transport: stdio
    command: npx
    args: ["--no", "mcp-server-everything", "stdio"]
    # description: MCP reference server with one of every feature
    # env: { API_TOKEN: "\${EVERYTHING_TOKEN}" }
    # inheritEnv: [PATH, HOME, LANG, TMPDIR, NODE_OPTIONS]   # the default
    # cwd: .                                # relative to this file
    # timeouts: { connectMs: 15000, requestMs: 60000, maxTotalMs: 300000 }   # requestMs resets on progress
    # restart: { initialDelayMs: 500, maxDelayMs: 30000 }
    # disabled: false                       # true keeps it here without starting it
    # In bubblewrap (Linux; install the bubblewrap package): it sees the system, its command, its package
    # and cwd read-only, a private /tmp, only its own processes, never the state directory or your home;
    # it runs as its own user (uid 65534 when the gateway is root), with no-new-privileges, a seccomp
    # filter and resource limits, and dies with the gateway. Remove it only for a server you trust.
    sandbox:
      network: none                         # none | host | { allow: ["api.example.com:443"] } (through the gateway's proxy)
      # paths: { read: [/srv/data], write: [/srv/scratch] }   # absolute paths it may also read / write
      # secrets: env                        # env | file: credentials.env values as /run/secrets/<NAME>
      # limits: { memoryMb: 1024, processes: 128, cpus: 1, openFiles: 1024 }

  # A remote server over Streamable HTTP (either MCP era; Gatehouse probes which):
  # - name: remote
  #   transport: http
  #   url: https://mcp.example.com/mcp
  #   headers: { Authorization: "Bearer \${REMOTE_TOKEN}" }

  # A legacy HTTP+SSE (2024-11-05) server:
  # - name: old
  #   transport: sse
  #   url: http://127.0.0.1:3001/sse
`;
}
