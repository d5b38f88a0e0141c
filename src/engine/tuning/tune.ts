/**
 * Tuning the WebGPU settings on the card at hand (`mceval tune`): one setting after another, each of its other values
 * against the value kept so far, the settings before it at the values they kept (coordinate descent, as an autotuner
 * walks a kernel's parameters). A value is kept where, over `rounds` rounds that time both (the order swapped every
 * round, so that a card's warming or a host's drift counts against both alike), the middle of its ratios to the kept
 * value's step time is below 1 − `margin`, and its losses equal the kept value's bit for bit: tuning changes how fast
 * a step runs, never what it computes. A value that changes the losses is reported and never kept. Last, the values kept
 * are timed together against the defaults, and dropped unless faster.
 */
import { median } from '../../metrics/quantile.js';
import { withEnvironment } from '../environment-values.js';
import { describeValues, type TunableSetting } from './tunable-settings.js';

/** A fresh training's steps under the environment as it is (train/timed-training.ts). */
export interface TimedSteps {
  /** The middle of the timed steps' milliseconds. */
  readonly msPerStep: number;
  /** Every step's loss, the warm-up's first. */
  readonly losses: readonly number[];
}

export interface TuneOptions {
  readonly settings: readonly TunableSetting[];
  readonly rounds: number;
  /** The share a value must save to be kept (0.03: 3%). */
  readonly margin: number;
  /** Trains from the same seed under the environment as it is set, and times it. */
  measure(): Promise<TimedSteps>;
  readonly log?: (line: string) => void;
}

/** One value's timing against the value kept when it was timed (its setting's default, or a value kept since). */
export interface ValueTiming {
  readonly value: string;
  readonly msPerStep: number;
  /** The middle of its rounds' ratios to the kept value's step time. */
  readonly ratio: number;
  readonly sameLosses: boolean;
}

export interface SettingOutcome {
  readonly variable: string;
  readonly chosen: string;
  readonly timings: readonly ValueTiming[];
}

export interface TuneResult {
  readonly outcomes: readonly SettingOutcome[];
  /** The kept values that are not the settings' defaults. */
  readonly chosen: Readonly<Record<string, string>>;
  /** The step time at the defaults and at the kept values, timed in turn over the rounds (each the middle). */
  readonly defaultMsPerStep: number;
  readonly tunedMsPerStep: number;
  /** The middle of the rounds' ratios, kept values' time over the defaults'. */
  readonly ratio: number;
  /** Values each kept in turn that, timed together against the defaults, were not faster (`chosen` is then empty). */
  readonly unconfirmed?: Readonly<Record<string, string>> | undefined;
}

const sameLosses = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((loss, i) => Object.is(loss, b[i]));

export async function tuneSettings({ settings, rounds, margin, measure, log }: TuneOptions): Promise<TuneResult> {
  const kept: Record<string, string> = Object.fromEntries(
    settings.map(({ variable, values }) => [variable, values[0]]),
  );
  const timedUnder = (values: Record<string, string>) => withEnvironment(values, measure);
  const defaults = { ...kept };
  // The losses every value must give: the defaults'.
  const reference = await timedUnder(defaults);
  /** `rounds` rounds timing `first` and `second` in turn: each one's middle time and the middle of their ratios. */
  const inTurn = async (first: Record<string, string>, second: Record<string, string>) => {
    const [firstTimes, secondTimes, ratios] = [[], [], []] as number[][];
    let same = true;
    for (let round = 0; round < rounds && same; round++) {
      const swapped = round % 2 === 1;
      const earlier = await timedUnder(swapped ? second : first);
      const later = await timedUnder(swapped ? first : second);
      const [a, b] = swapped ? [later, earlier] : [earlier, later];
      same = sameLosses(a.losses, reference.losses) && sameLosses(b.losses, reference.losses);
      firstTimes.push(a.msPerStep);
      secondTimes.push(b.msPerStep);
      ratios.push(b.msPerStep / a.msPerStep);
    }
    return { first: median(firstTimes), second: median(secondTimes), ratio: median(ratios), same };
  };
  const outcomes: SettingOutcome[] = [];
  for (const { variable, values } of settings) {
    const timings: ValueTiming[] = [];
    for (const value of values) {
      if (value === kept[variable]) continue;
      const timed = await inTurn(kept, { ...kept, [variable]: value });
      const same = timed.same;
      const timing = { value, msPerStep: timed.second, ratio: timed.ratio, sameLosses: same };
      timings.push(timing);
      const faster = same && timing.ratio < 1 - margin;
      log?.(
        `${variable}=${value}: ${timing.msPerStep.toFixed(2)} ms a step, ${timing.ratio.toFixed(3)}× ` +
          `${kept[variable]}'s${same ? '' : ', losses differ: not kept'}${faster ? ': kept' : ''}`,
      );
      if (faster) kept[variable] = value;
    }
    outcomes.push({ variable, chosen: kept[variable]!, timings });
  }
  const chosen = Object.fromEntries(
    settings
      .filter(({ variable }) => kept[variable] !== defaults[variable])
      .map(({ variable }) => [variable, kept[variable]!]),
  );
  if (Object.keys(chosen).length === 0)
    return { outcomes, chosen, defaultMsPerStep: reference.msPerStep, tunedMsPerStep: reference.msPerStep, ratio: 1 };
  const overall = await inTurn(defaults, kept);
  const times = { defaultMsPerStep: overall.first, tunedMsPerStep: overall.second, ratio: overall.ratio };
  // Kept values each saved the margin against the one before; timed together against the defaults they must still
  // save time, or the savings were the host's or the card's noise and every default stays.
  const confirmed = overall.same && overall.ratio < 1;
  log?.(
    `${describeValues(chosen)} against the defaults: ${overall.ratio.toFixed(3)}×${confirmed ? '' : ': not faster, none kept'}`,
  );
  return { outcomes, chosen: confirmed ? chosen : {}, ...times, unconfirmed: confirmed ? undefined : chosen };
}
