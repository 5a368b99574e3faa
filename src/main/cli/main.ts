import { Command, CommanderError } from 'commander';
import { devCommand } from './dev.js';
import { normalizeGoFlags } from './flags.js';
import { serveCommand } from './serve.js';
import { verifyCommand } from './verify.js';
import { issueCommand } from './issue.js';
import { inspectCommand } from './inspect.js';
import { snpCommand } from './snp-verify-report.js';
import { SERVICE_VERSION } from './version.js';

export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command('joinservice')
    .description('Constellation node join service: attested TLS, join.API over gRPC')
    .version(SERVICE_VERSION)
    .exitOverride()
    .addCommand(serveCommand().exitOverride())
    .addCommand(devCommand().exitOverride())
    .addCommand(verifyCommand().exitOverride())
    .addCommand(issueCommand().exitOverride())
    .addCommand(inspectCommand().exitOverride())
    .addCommand(snpCommand().exitOverride());
  try {
    await program.parseAsync(normalizeGoFlags(argv), { from: 'user' });
  } catch (err) {
    // Go's flag package exits with 2 on usage errors; help/version exit 0.
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
    throw err;
  }
}
