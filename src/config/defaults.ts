/** Where state lives unless `gateway.stateDir` says otherwise (relative to the config file). */
export const DEFAULT_STATE_DIR = '.gatehouse';
