// What the services offer before any repository can be opened: rebuilding a repository's
// metadata from its store, and restoring one version from its manifest alone. The CLI reaches
// them here, as it reaches every other operation through the services.
export type { Credentials } from '../engine/codec/keys';
export { recoverRepository, restoreWithoutDatabase } from '../engine/recover';
