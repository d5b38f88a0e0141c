/** Root help with an EXAMPLES section: the first example of every command, so `mceval --help` shows how to start. */
import { Help } from '@oclif/core';

export default class MceHelp extends Help {
  protected override async showRootHelp(): Promise<void> {
    await super.showRootHelp();
    const examples = this.sortedCommands
      .map((command) => (Array.isArray(command.examples) ? command.examples[0] : undefined))
      .filter((example): example is string => typeof example === 'string')
      .map((example) => `  $ ${example.replace('<%= config.bin %>', this.config.bin)}`);
    if (examples.length > 0) this.log(`\nEXAMPLES\n${examples.join('\n')}`);
  }
}
