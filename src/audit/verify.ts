/**
 * `gatehouse audit verify`: walk every stream in seq order from its checkpoint (or the genesis) and
 * recompute the chain. An edited record fails its hash, a deleted one leaves a gap in seq, a reordered
 * one breaks the link to its predecessor, and a record whose indexed columns disagree with its body
 * was edited around the hash. Each problem names the stream, the seq and the position.
 */
import type { AuditStore } from '../storage/types.ts';
import { GENESIS, chainHash, type AuditEvent, type Problem } from '../model/audit-event.ts';
import {
  checkAgainstCheckpoints,
  checkpointsChecked,
  signatureValid,
  type CheckpointDetail,
  type CheckpointExport,
  type CheckpointsChecked,
} from './checkpoint.ts';
import { setImmediate as nextTurn } from 'node:timers/promises';

export interface VerifyReport {
  ok: boolean;
  streams: number;
  records: number;
  problems: Problem[];
  /** Given an export of checkpoints: what of it was checked (and by which keys it is signed). */
  checkpoints?: CheckpointsChecked;
}

const PAGE = 2000;

/**
 * `checkpoints`: an export of signed checkpoints taken earlier (checkpoint.ts): streams cut short or
 * deleted since are reported. `trustedKeys`: key ids whose signatures count (default: any valid one).
 */
export async function verifyAudit(
  store: AuditStore,
  opts: {
    liveStreams?: ReadonlySet<string>;
    onProgress?: (records: number) => void;
    checkpoints?: CheckpointExport;
    trustedKeys?: ReadonlySet<string>;
  } = {},
): Promise<VerifyReport> {
  const problems: Problem[] = [];
  let records = 0;
  const streams = await store.streams();
  for (const s of streams) {
    const cp = await store.checkpoint(s.stream);
    let expectSeq = (cp?.seq ?? 0) + 1;
    let prev = cp?.hash ?? GENESIS;
    let last: AuditEvent | undefined;
    for (let from = 0; ; ) {
      const page = await store.streamRecords(s.stream, from, PAGE);
      for (const r of page) {
        records++;
        let e: AuditEvent;
        try {
          e = JSON.parse(r.body) as AuditEvent;
        } catch {
          problems.push({
            stream: s.stream,
            seq: r.seq,
            position: r.position,
            problem: 'unreadable',
            detail: 'the record is not valid json',
          });
          continue;
        }
        if (r.seq > expectSeq) {
          problems.push({
            stream: s.stream,
            seq: expectSeq,
            position: null,
            problem: 'missing',
            detail: `seq ${expectSeq}${r.seq - 1 > expectSeq ? ` to ${r.seq - 1}` : ''} absent`,
          });
        } else if (r.seq < expectSeq && !(r.seq === expectSeq - 1 && e.hash === prev)) {
          problems.push({
            stream: s.stream,
            seq: r.seq,
            position: r.position,
            problem: 'out of order',
            detail: `seq ${r.seq} after ${expectSeq - 1}`,
          });
        }
        if (e.stream !== r.stream || e.seq !== r.seq) {
          problems.push({
            stream: s.stream,
            seq: r.seq,
            position: r.position,
            problem: 'edited',
            detail: `the columns say ${r.stream}#${r.seq}, the record ${e.stream}#${e.seq}`,
          });
        } else if (chainHash(e) !== e.hash) {
          problems.push({
            stream: s.stream,
            seq: r.seq,
            position: r.position,
            problem: 'edited',
            detail: 'the content does not match its hash',
          });
        } else if (e.prev !== prev && r.seq === expectSeq) {
          problems.push({
            stream: s.stream,
            seq: r.seq,
            position: r.position,
            problem: 'out of order',
            detail: 'it does not follow the record before it',
          });
        }
        // A signed checkpoint in the stream signs the record just before it.
        if (e.kind === 'audit.checkpoint') {
          const d = e.detail as unknown as CheckpointDetail | undefined;
          if (!d || d.seq !== e.seq - 1 || d.hash !== e.prev || !signatureValid(s.stream, d, opts.trustedKeys)) {
            problems.push({
              stream: s.stream,
              seq: r.seq,
              position: r.position,
              problem: 'bad checkpoint',
              detail: 'the checkpoint does not sign the record before it with a valid (trusted) signature',
            });
          }
        }
        prev = e.hash;
        expectSeq = r.seq + 1;
        if (e.kind !== 'audit.checkpoint' || !last) last = e;
      }
      opts.onProgress?.(records);
      if (page.length < PAGE) break;
      from = page[page.length - 1].seq + 1;
      // The admin API verifies in the gateway, and SQLite reads on the event loop: calls get their
      // turn between pages, or a trail of millions would hold every call for minutes.
      await nextTurn();
    }
    // A stream that did not end cleanly: its writer crashed, or its tail was cut. Live streams are still being written.
    if (last && last.kind !== 'stream.closed' && !opts.liveStreams?.has(s.stream)) {
      problems.push({
        stream: s.stream,
        seq: last.seq,
        position: null,
        problem: 'not closed',
        detail: 'no closing record: the writer stopped abruptly, or records after this one were removed',
      });
    }
  }
  if (opts.checkpoints) problems.push(...(await checkAgainstCheckpoints(store, opts.checkpoints, opts.trustedKeys)));
  const serious = problems.filter((p) => p.problem !== 'not closed');
  return { ok: serious.length === 0, streams: streams.length, records, problems, ...checkedOf(opts) };
}

/** With an export of checkpoints: what of it was checked, for the report. */
function checkedOf(opts: { checkpoints?: CheckpointExport; trustedKeys?: ReadonlySet<string> }): {
  checkpoints?: CheckpointsChecked;
} {
  return opts.checkpoints ? { checkpoints: checkpointsChecked(opts.checkpoints, opts.trustedKeys) } : {};
}
