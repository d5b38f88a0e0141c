/**
 * A GLUE task read from its download script's headed TSV files: the text (and pair) columns by name, the label
 * column mapped through the task's label names. RTE, SST-2, QNLI, QQP and MNLI differ only in these settings.
 */
import { requireDataFile } from '../../data/data-dir.js';
import { lazySplits } from '../../data/lazy-splits.js';
import { glueHubSource, readGlueTsv, type GlueHubSpec } from '../../data/loaders/glue.js';
import type { ClassificationTask } from '../types.js';

export interface GlueTaskSpec {
  readonly name: string;
  readonly description: string;
  readonly trainFile: string;
  readonly devFile: string;
  readonly columns: { readonly text: string; readonly pair?: string; readonly label: string };
  /** The label column's values, in class order. */
  readonly labelValues: readonly string[];
  /** Names of the classes (default: the label values). */
  readonly labels?: readonly string[];
  readonly maxLength: number;
  readonly extraMetrics?: readonly ('f1' | 'mcc')[];
  /** The same data in the hub's nyu-mll/glue. */
  readonly hub: GlueHubSpec;
}

export function glueTask(spec: GlueTaskSpec): ClassificationTask {
  const files = [spec.trainFile, spec.devFile];
  const labels = spec.labels ?? spec.labelValues;
  return {
    name: spec.name,
    description: spec.description,
    kind: 'classification',
    labels,
    maxLength: spec.maxLength,
    ...(spec.extraMetrics === undefined ? {} : { extraMetrics: spec.extraMetrics }),
    dataFiles: files,
    load(dataDir) {
      const read = (file: string) =>
        readGlueTsv(requireDataFile(spec.name, dataDir, file), spec.columns, spec.labelValues);
      return lazySplits({ train: () => read(spec.trainFile), dev: () => read(spec.devFile) });
    },
    hub: glueHubSource(spec.hub, labels),
  };
}
