/**
 * Proposing READ / WRITE / DESTRUCTIVE for a tool nobody has classified yet. Pure. The proposal is
 * only a suggestion shown to the operator: until someone classifies the tool, the gateway treats it
 * as DESTRUCTIVE. Annotations come from an untrusted server, so they can make a proposal more
 * cautious but never, alone, make a tool READ: READ needs a reading verb in the name too, and no
 * writing or destroying word anywhere.
 */
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { ToolClass } from '../model/tool-class.ts';

export interface Proposal {
  class: ToolClass;
  reasons: string[];
}

const DESTRUCTIVE = new Set([
  'delete',
  'del',
  'remove',
  'rm',
  'destroy',
  'drop',
  'purge',
  'truncate',
  'wipe',
  'erase',
  'close',
  'cancel',
  'revoke',
  'terminate',
  'kill',
  'pay',
  'payment',
  'transfer',
  'refund',
  'charge',
  'withdraw',
  'deploy',
  'release',
  'merge',
  'force',
  'reset',
  'overwrite',
  'uninstall',
  'shutdown',
  'reboot',
  'ban',
  'suspend',
  'disable',
  'rollback',
  'exec',
  'execute',
  'shell',
  'eval',
  'sudo',
  'format',
  'unlink',
  'rmdir',
  'archive',
  'expunge',
  'evict',
  'clear',
]);

/** In prose, only unambiguous words count ("a clear error", "JSON format" are not destructive). */
const DESTRUCTIVE_PROSE = new Set([
  'delete',
  'deletes',
  'deleting',
  'deleted',
  'remove',
  'removes',
  'removing',
  'destroy',
  'destroys',
  'drop',
  'drops',
  'purge',
  'purges',
  'truncate',
  'truncates',
  'wipe',
  'wipes',
  'erase',
  'erases',
  'revoke',
  'revokes',
  'terminate',
  'terminates',
  'kill',
  'kills',
  'pay',
  'pays',
  'refund',
  'refunds',
  'deploy',
  'deploys',
  'overwrite',
  'overwrites',
  'overwriting',
  'uninstall',
  'uninstalls',
  'shutdown',
  'rollback',
  'permanently',
  'irreversible',
  'irreversibly',
]);

const WRITE = new Set([
  'create',
  'add',
  'update',
  'edit',
  'write',
  'set',
  'put',
  'post',
  'send',
  'insert',
  'upload',
  'modify',
  'rename',
  'move',
  'mv',
  'copy',
  'cp',
  'comment',
  'assign',
  'invite',
  'label',
  'submit',
  'save',
  'patch',
  'append',
  'register',
  'start',
  'trigger',
  'schedule',
  'open',
  'fork',
  'push',
  'commit',
  'mkdir',
  'enable',
  'toggle',
  'publish',
  'reply',
  'react',
  'subscribe',
  'upsert',
  'import',
  'sync',
  'approve',
  'run',
  'invoke',
  'notify',
  'buy',
  'sell',
  'replace',
  'change',
  'apply',
  'install',
]);

const WRITE_PROSE = new Set([
  'create',
  'creates',
  'update',
  'updates',
  'write',
  'writes',
  'send',
  'sends',
  'insert',
  'inserts',
  'upload',
  'uploads',
  'modify',
  'modifies',
  'rename',
  'renames',
  'move',
  'moves',
  'edit',
  'edits',
  'post',
  'posts',
  'publish',
  'publishes',
  'submit',
  'submits',
  'save',
  'saves',
  'append',
  'appends',
  'commit',
  'commits',
  'push',
  'pushes',
]);

const READ = new Set([
  'get',
  'list',
  'read',
  'search',
  'find',
  'fetch',
  'query',
  'describe',
  'show',
  'view',
  'lookup',
  'count',
  'check',
  'stat',
  'info',
  'inspect',
  'echo',
  'ping',
  'status',
  'browse',
  'download',
  'tree',
  'diff',
  'explain',
  'preview',
  'validate',
  'lint',
  'summarize',
  'summarise',
  'resolve',
  'head',
  'tail',
  'peek',
  'print',
  'compute',
  'calculate',
  'sum',
]);

/** `deleteFile`, `delete_file`, `delete-file`, `files.delete` -> ['delete', 'file']. */
export function words(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2') // AWSDeleteBucket -> AWS Delete Bucket
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

function hits(ws: string[], set: Set<string>): string[] {
  return [...new Set(ws.filter((w) => set.has(w)))];
}

export function proposeClass(def: JsonObject): Proposal {
  const name = typeof def.name === 'string' ? def.name : '';
  const nameWords = words(name);
  const descWords = words([def.title, def.description].filter((v) => typeof v === 'string').join(' '));
  const ann =
    def.annotations && typeof def.annotations === 'object' && !Array.isArray(def.annotations)
      ? (def.annotations as JsonObject)
      : {};
  const reasons: string[] = [];

  const destructiveName = hits(nameWords, DESTRUCTIVE);
  const destructiveDesc = hits(descWords, DESTRUCTIVE_PROSE);
  if (destructiveName.length) reasons.push(`name says ${destructiveName.join(', ')}`);
  if (destructiveDesc.length) reasons.push(`description says ${destructiveDesc.join(', ')}`);
  // A hint can only make the proposal more cautious: destructiveHint counts even beside readOnlyHint.
  if (ann.destructiveHint === true) reasons.push('annotations: destructiveHint');
  if (reasons.length) {
    if (ann.readOnlyHint === true) reasons.push('readOnlyHint ignored: it contradicts the name or description');
    return { class: 'DESTRUCTIVE', reasons };
  }

  const writeName = hits(nameWords, WRITE);
  const writeDesc = hits(descWords, WRITE_PROSE);
  if (writeName.length) reasons.push(`name says ${writeName.join(', ')}`);
  if (writeDesc.length && !hits(nameWords, READ).length) reasons.push(`description says ${writeDesc.join(', ')}`);
  if (ann.readOnlyHint === false) reasons.push('annotations: readOnlyHint false');
  if (reasons.length) {
    if (ann.readOnlyHint === true) reasons.push('readOnlyHint ignored: it contradicts the name or description');
    return { class: 'WRITE', reasons };
  }

  const readName = hits(nameWords, READ);
  if (readName.length) {
    reasons.push(`name says ${readName.join(', ')}`);
    if (ann.readOnlyHint === true) reasons.push('annotations: readOnlyHint');
    return { class: 'READ', reasons };
  }
  if (ann.readOnlyHint === true)
    return { class: 'WRITE', reasons: ['only the (untrusted) readOnlyHint says read-only; the name does not'] };
  return { class: 'WRITE', reasons: ['no reading, writing or destroying word in the name'] };
}
