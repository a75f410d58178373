// The contract's own error: a value that breaks one of its rules (a builder writing a bad
// environment value). Other areas have their own base error and keep this one as the `cause`.
export class ContractError extends Error {
  override readonly name: string = 'ContractError';
}
