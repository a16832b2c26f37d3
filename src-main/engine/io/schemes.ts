// Kinds of sources and targets named by a prefix of their location string (`nbd://`,
// `nbd+unix://`, `qcow2:`, `rbd:` ...). Each kind lives in a file of its own and adds one
// entry here; openSource/openTarget (index.ts) try these before treating a string as a path.
import { nbdScheme } from './nbd';
import type { Source, SourceOptions, Target, TargetOptions } from './port';
import { qcow2Scheme } from './qcow2';
import { rbdScheme } from './rbd';

export interface IoScheme {
  /** for messages and the GUI's list of kinds, e.g. "NBD export" */
  title: string;
  /** location prefixes this kind handles, e.g. ['nbd://', 'nbd+unix://'] */
  prefixes: string[];
  openSource?(location: string, options: SourceOptions): Promise<Source>;
  openTarget?(location: string, options: TargetOptions): Promise<Target>;
}

export const SCHEMES: IoScheme[] = [nbdScheme, qcow2Scheme, rbdScheme];
