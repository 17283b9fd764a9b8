import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { COMMANDS, commandNamed } from './commands.ts';
import { cliContext } from './context.ts';

test('each summary `--help` lists is the description its module registers', async () => {
  for (const entry of COMMANDS) {
    const program = new Command('gatehouse');
    (await entry.load())(program, cliContext);
    const registered = program.commands.find((c) => c.name() === entry.name);
    assert.ok(registered, `${entry.name}: its module registers no such command`);
    assert.equal(registered.description(), entry.summary, entry.name);
  }
});

test('every top-level command a module registers is in the table (else it could never be run)', async () => {
  const listed = new Set(COMMANDS.map((c) => c.name));
  for (const entry of COMMANDS) {
    const program = new Command('gatehouse');
    (await entry.load())(program, cliContext);
    for (const c of program.commands) assert.ok(listed.has(c.name()), `${c.name()} (registered with ${entry.name})`);
  }
});

test('the command is the first word that is not an option; `help <command>` names the next one', () => {
  assert.equal(commandNamed(['keys', 'create', '-n', 'x'])?.name, 'keys');
  assert.equal(commandNamed(['--json', 'audit', 'verify'])?.name, 'audit');
  assert.equal(commandNamed(['help', 'incident'])?.name, 'incident');
  assert.equal(commandNamed(['--help']), undefined);
  assert.equal(commandNamed(['kees']), undefined);
  assert.equal(commandNamed([]), undefined);
  // Inherited names are not commands.
  assert.equal(commandNamed(['constructor']), undefined);
});
