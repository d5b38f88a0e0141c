import { Args, Command, loadHelpClass } from '@oclif/core';

/** `mceval help [COMMAND…]`: the same help as `--help`, for users who type it as a command (as git and npm take it). */
export default class HelpCommand extends Command {
  static override summary = 'Show help for mceval or for one of its commands.';
  static override examples = ['<%= config.bin %> help run', '<%= config.bin %> help data pull'];
  static override strict = false;
  static override args = { command: Args.string({ description: 'The command to describe.', required: false }) };

  async run(): Promise<void> {
    const Help = await loadHelpClass(this.config);
    await new Help(this.config).showHelp(this.argv);
  }
}
