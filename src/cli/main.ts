/**
 * The `gatehouse` command. Every command that reads the configuration takes --config (default:
 * $GATEHOUSE_CONFIG or gatehouse.yaml; `init` and `incident verify` need none) and prints data as
 * text, or as JSON with --json. Exit status: 0 ok, 1 failure,
 * 2 bad input (usage, invalid config). Only the command being run is loaded (./commands.ts).
 */
import { enableCompileCache } from 'node:module';
import { Command, CommanderError } from 'commander';
import { commandNamed, COMMANDS } from './commands.ts';

// V8's compiled code for every module loaded from here on is kept on disk (the OS temp directory) and
// reused by the next start: a gateway or a CLI command starts several times faster the second time.
// NODE_DISABLE_COMPILE_CACHE=1 turns it off.
enableCompileCache();

// `gatehouse inventory | head`: the reader left; that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

// `--json` anywhere before a `--`: commander's own usage errors are then JSON too, like every other
// failure of such a command (context.ts), though they come before any command has read its options.
const args = process.argv.slice(2);
const end = args.indexOf('--');
const wantsJson = (end < 0 ? args : args.slice(0, end)).includes('--json');

const program = new Command('gatehouse')
  .description('Gatehouse: the control plane between AI agents and MCP servers')
  .version('0.1.0')
  .showHelpAfterError()
  .configureHelp({ showGlobalOptions: true })
  // Usage errors (a missing required option, an unknown one, a missing argument) are bad input:
  // exit 2, as every other bad input is; commander has said what is wrong. Inherited by every command.
  .exitOverride();
// With --json the error and the help after it are not written as text: the catch below prints the
// error as `{"error", "exitCode"}` on stdout. `--help` itself still prints (on stdout).
if (wantsJson) program.configureOutput({ writeErr: () => {} });

const named = commandNamed(args);
if (named) {
  const [register, { cliContext, jsonFailures }] = await Promise.all([named.load(), import('./context.ts')]);
  register(program, cliContext);
  jsonFailures(program, wantsJson);
} else {
  // `--help`, no command, or an unknown one: the list (commander suggests the closest name).
  for (const c of COMMANDS) program.command(c.name).description(c.summary);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    if (err.exitCode !== 0 && wantsJson) {
      // A group given no command shows its help as the error; said here in words.
      const error =
        err.code === 'commander.help' ? 'a command is needed: see --help' : err.message.replace(/^error: /, '');
      process.stdout.write(`${JSON.stringify({ error, exitCode: 2 })}\n`);
    }
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  // What a command could not do, said in one line: never a stack trace with the install's paths
  // (GATEHOUSE_DEBUG=1 prints it). Errors written for people (credentials, config, incidents) say
  // what to fix; anything else is a failure of the command.
  const e = err as Error & { code?: unknown };
  if (process.env.GATEHOUSE_DEBUG === '1') process.stderr.write(`${e?.stack ?? String(err)}\n`);
  const code = typeof e?.code === 'string' && /^E_(PROVIDER_AUTH|INVALID|CONFIG)/.test(e.code) ? 2 : 1;
  const message = e?.message ?? String(err);
  // A command's own failure, as JSON when it was given --json; without a command, as a line.
  if (named) (await import('./context.ts')).printFailure(message, code);
  else process.stderr.write(`gatehouse: ${message}\n`);
  process.exit(code);
}
