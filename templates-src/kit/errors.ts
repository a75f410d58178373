// The one error the kit throws: a bad option names the logical ID (or template, for a
// template-wide check) and the property it broke, so a build error points at its line.
export class KitError extends Error {
  override readonly name = 'KitError';
  constructor(
    /** The logical ID, template or intrinsic the option belongs to. */
    readonly logicalId: string,
    /** The property (or option) that broke its rule. */
    readonly property: string,
    message: string,
  ) {
    super(message);
  }
}
