import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import { TOOL_CLASSES, type ToolClass } from '../model/tool-class.ts';
import { proposeClass, words } from './classify.ts';

type Case = [JsonObject, ToolClass, RegExp?];

function check(cases: Case[]): void {
  for (const [def, expected, reason] of cases) {
    const p = proposeClass(def);
    assert.equal(p.class, expected, `${JSON.stringify(def)} -> ${p.class} (${p.reasons.join('; ')})`);
    assert.ok(p.reasons.length > 0, `${def.name}: a proposal always says why`);
    if (reason)
      assert.ok(
        p.reasons.some((r) => reason.test(r)),
        `${def.name}: reasons ${JSON.stringify(p.reasons)} lack ${reason}`,
      );
  }
}

test('words() splits identifiers of every common style', () => {
  const cases: Array<[string, string[]]> = [
    ['deleteFile', ['delete', 'file']],
    ['delete_file', ['delete', 'file']],
    ['delete-file', ['delete', 'file']],
    ['files.delete', ['files', 'delete']],
    ['DELETE_FILE', ['delete', 'file']],
    ['DeleteFile', ['delete', 'file']],
    ['getFileContents', ['get', 'file', 'contents']],
    ['s3DeleteObject', ['s3', 'delete', 'object']],
    ['v2_list-items.all', ['v2', 'list', 'items', 'all']],
    ['  __a--b..c  ', ['a', 'b', 'c']],
    ['Returns a clear error, in JSON format.', ['returns', 'a', 'clear', 'error', 'in', 'json', 'format']],
    ['', []],
    ['___', []],
  ];
  for (const [text, expected] of cases) assert.deepEqual(words(text), expected, text);
});

test('words() and acronyms: an all-caps prefix swallows the next word', () => {
  assert.deepEqual(words('AWSDeleteBucket'), ['aws', 'delete', 'bucket']);
  assert.deepEqual(words('HTTPGetRequest'), ['http', 'get', 'request']);
  assert.equal(proposeClass({ name: 'AWSDeleteBucket' }).class, 'DESTRUCTIVE');
});

test('GitHub-like tools', () => {
  check([
    [{ name: 'create_issue', description: 'Create a new issue in a GitHub repository' }, 'WRITE', /name says create/],
    [
      { name: 'add_issue_comment', description: 'Add a comment to an existing issue' },
      'WRITE',
      /name says add, comment/,
    ],
    [{ name: 'delete_repository', description: 'Delete a repository' }, 'DESTRUCTIVE', /name says delete/],
    [{ name: 'merge_pull_request', description: 'Merge a pull request' }, 'DESTRUCTIVE', /name says merge/],
    [
      { name: 'list_issues', description: 'List issues in a GitHub repository with filtering options' },
      'READ',
      /name says list/,
    ],
    [
      { name: 'get_file_contents', description: 'Get the contents of a file or directory from a GitHub repository' },
      'READ',
      /name says get/,
    ],
    [{ name: 'search_code', description: 'Search for code across GitHub repositories' }, 'READ'],
    [{ name: 'fork_repository', description: 'Fork a GitHub repository to your account' }, 'WRITE', /fork/],
    [{ name: 'push_files', description: 'Push multiple files to a GitHub repository in a single commit' }, 'WRITE'],
  ]);
});

test('filesystem tools (descriptions from @modelcontextprotocol/server-filesystem)', () => {
  check([
    [
      {
        name: 'read_file',
        description: 'Read the complete contents of a file as text. DEPRECATED: Use read_text_file instead.',
        annotations: { readOnlyHint: true },
      },
      'READ',
      /annotations: readOnlyHint/,
    ],
    [
      {
        name: 'read_text_file',
        description:
          'Read the complete contents of a file from the file system as text. Handles various text encodings and provides detailed error messages if the file cannot be read.',
      },
      'READ',
    ],
    [
      {
        name: 'write_file',
        description:
          'Create a new file or completely overwrite an existing file with new content. Use with caution as it will overwrite existing files without warning.',
      },
      'DESTRUCTIVE',
      /description says overwrite/,
    ],
    [
      {
        name: 'edit_file',
        description: 'Make line-based edits to a text file. Each edit replaces exact line sequences with new content.',
      },
      'WRITE',
      /name says edit/,
    ],
    [
      {
        name: 'move_file',
        description: 'Move or rename files and directories. If the destination exists, the operation will fail.',
      },
      'WRITE',
      /name says move/,
    ],
    [{ name: 'create_directory', description: 'Create a new directory or ensure a directory exists.' }, 'WRITE'],
    [
      {
        name: 'list_directory',
        description: 'Get a detailed listing of all files and directories in a specified path.',
      },
      'READ',
    ],
    [
      {
        name: 'directory_tree',
        description: 'Get a recursive tree view of files and directories as a JSON structure.',
      },
      'READ',
      /name says tree/,
    ],
    [{ name: 'get_file_info', description: 'Retrieve detailed metadata about a file or directory.' }, 'READ'],
  ]);
});

test('payments, camelCase and kebab-case names', () => {
  check([
    [{ name: 'pay_invoice', description: 'Pay an open invoice' }, 'DESTRUCTIVE', /name says pay/],
    [
      { name: 'refund_charge', description: 'Refund a charge to the customer' },
      'DESTRUCTIVE',
      /name says refund, charge/,
    ],
    [{ name: 'list_charges', description: 'List recent charges' }, 'READ'],
    [{ name: 'deleteFile', description: 'Removes a file' }, 'DESTRUCTIVE', /name says delete/],
    [{ name: 'close-ticket', description: 'Close a support ticket' }, 'DESTRUCTIVE', /name says close/],
    [{ name: 'createTicket' }, 'WRITE'],
    [{ name: 'getTicket' }, 'READ'],
  ]);
});

test('prose: only unambiguous destructive words count', () => {
  check([
    [{ name: 'get_status', description: 'Returns a clear error when the service is down.' }, 'READ'],
    [{ name: 'get_report', description: 'Returns the report in JSON format.' }, 'READ'],
    [
      { name: 'list_jobs', description: 'Lists jobs; you can cancel them with another tool. Output is formatted.' },
      'READ',
    ],
    [
      { name: 'query', description: 'Runs a SQL query. Warning: this can drop tables.' },
      'DESTRUCTIVE',
      /description says drop/,
    ],
    [{ name: 'fetch_url', description: 'Fetches a URL and permanently caches it.' }, 'DESTRUCTIVE', /permanently/],
    [{ name: 'helper', title: 'Deletes stale branches' }, 'DESTRUCTIVE', /description says deletes/],
    [{ name: 'helper', description: 'Sends the message to the channel.' }, 'WRITE', /description says sends/],
    // A reading name outranks writing prose, but not destroying prose.
    [{ name: 'list_messages', description: 'Lists messages the bot sends.' }, 'READ'],
  ]);
});

test('annotations are untrusted: readOnlyHint never makes a tool READ on its own', () => {
  check([
    [
      { name: 'delete_file', description: 'Delete a file.', annotations: { readOnlyHint: true } },
      'DESTRUCTIVE',
      /readOnlyHint ignored/,
    ],
    [
      { name: 'get_file', description: 'Gets a file, then deletes it.', annotations: { readOnlyHint: true } },
      'DESTRUCTIVE',
      /readOnlyHint ignored/,
    ],
    [{ name: 'update_record', annotations: { readOnlyHint: true } }, 'WRITE', /readOnlyHint ignored/],
    [{ name: 'helper', annotations: { readOnlyHint: true } }, 'WRITE', /only the \(untrusted\) readOnlyHint/],
    [
      { name: 'helper', description: 'Helps.', annotations: { readOnlyHint: true, title: 'Read only helper' } },
      'WRITE',
    ],
  ]);
  // The hint is not reported as ignored when nothing contradicted it.
  assert.ok(
    !proposeClass({ name: 'get_file', annotations: { readOnlyHint: true } }).reasons.some((r) => /ignored/.test(r)),
  );
});

test('annotations can only make a proposal more cautious', () => {
  check([
    [{ name: 'get_thing', annotations: { destructiveHint: true } }, 'DESTRUCTIVE', /annotations: destructiveHint/],
    [{ name: 'helper', annotations: { destructiveHint: true, readOnlyHint: false } }, 'DESTRUCTIVE', /destructiveHint/],
    [{ name: 'get_thing', annotations: { readOnlyHint: false } }, 'WRITE', /readOnlyHint false/],
    [{ name: 'delete_thing', annotations: { destructiveHint: false } }, 'DESTRUCTIVE'],
    [{ name: 'get_thing', annotations: { destructiveHint: false, readOnlyHint: true } }, 'READ'],
  ]);
});

test('destructiveHint: true forces DESTRUCTIVE even next to readOnlyHint: true', () => {
  check([[{ name: 'get_records', annotations: { readOnlyHint: true, destructiveHint: true } }, 'DESTRUCTIVE']]);
});

test('odd or hostile shapes do not throw and default to WRITE', () => {
  check([
    [{}, 'WRITE', /no reading, writing or destroying word/],
    [{ name: 42 as unknown as string }, 'WRITE'],
    [{ name: 'helper', description: { text: 'delete' } as unknown as string }, 'WRITE'],
    [{ name: 'helper', annotations: [{ readOnlyHint: true }] as unknown as JsonObject }, 'WRITE', /no reading/],
    [{ name: 'helper', annotations: 'readOnlyHint' as unknown as JsonObject }, 'WRITE'],
    [{ name: 'd\u0435lete_file' }, 'WRITE'], // Cyrillic е: not READ either way
  ]);
});

test('the classes list and reasons are stable', () => {
  assert.deepEqual(TOOL_CLASSES, ['READ', 'WRITE', 'DESTRUCTIVE']);
  assert.deepEqual(proposeClass({ name: 'delete_and_remove_and_delete' }).reasons, ['name says delete, remove']);
});
