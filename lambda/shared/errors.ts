// The handlers' base error. Every error a handler raises extends HandlerError and keeps what
// caused it (ErrorOptions.cause) unless that could carry a secret (a stored activation record).
export class HandlerError extends Error {
  override readonly name: string = 'HandlerError';
}

/** The function's environment breaks its contract (contract/environment.ts); the message names the variable. */
export class ConfigurationError extends HandlerError {
  override readonly name = 'ConfigurationError';
}
