/**
 * The gateway's own files that no sandbox shows, wherever they lie: the config and policy files, the
 * SQLite database and its siblings, the audit exports' directories and a Vault login's JWT file.
 */
import { isAbsolute, resolve } from 'node:path';
import type { Config } from '../config/schema.ts';

/** A file or directory of the gateway that no sandbox shows, wherever it lies; `what` names it in refusals. */
export interface GatewayFile {
  path: string;
  what: string;
  /** A directory the gateway makes when it needs it (so the sandbox makes it first, to mask it). */
  dir?: boolean;
}

/**
 * What the gateway keeps or reads outside its state directory, hidden from every sandbox wherever it
 * lies: the config file and the policy files it names (literal secrets), the SQLite database with its
 * -wal, -shm, -journal and -spool siblings (every tenant's records, key hashes, the gateway's HMAC
 * keys), the audit exports' file directories and a Vault login's JWT file. The state directory is
 * hidden apart (the host's own).
 */
export function gatewayFiles(config: Config): GatewayFile[] {
  const files: GatewayFile[] = [];
  if (isAbsolute(config.source)) files.push({ path: config.source, what: 'config file' });
  for (const f of config.policy?.files ?? []) files.push({ path: f, what: 'policy file' });
  if (config.storage.driver === 'sqlite') {
    const db = config.storage.sqlitePath;
    files.push({ path: db, what: 'database' });
    for (const x of ['-wal', '-shm', '-journal']) files.push({ path: db + x, what: 'database' });
    files.push({ path: `${db}-spool`, what: 'database', dir: true });
  }
  for (const e of config.audit.exports)
    if (e.type === 'file')
      files.push({
        path: resolve(config.gateway.stateDir, e.dir ?? 'audit-export'),
        what: 'audit export directory',
        dir: true,
      });
  const vault = config.secrets.vault?.auth;
  if (vault && 'jwtFile' in vault) files.push({ path: resolve(vault.jwtFile), what: 'Vault login token file' });
  return files;
}
