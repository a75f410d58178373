// The organization rule the CLI and the fleet lifecycle share: which listed accounts are ACTIVE.
import { describe, expect, it } from 'vitest';
import { accountsUnder, activeAccountsUnder, type OrganizationReads } from '../../contract/organization.ts';

/** Reads of one OU holding one account per state; State preferred over the retired Status. */
const reads = (accounts: Array<{ Id: string; State?: string; Status?: string }>): OrganizationReads => ({
  async *accounts() {
    yield accounts;
  },
  async *childOus() {},
});

describe('accounts under the OUs, by state', () => {
  // Organizations user guide, "Monitor the state of your AWS accounts": five states.
  it.each([
    { state: 'ACTIVE', active: true },
    { state: 'PENDING_ACTIVATION', active: false },
    { state: 'SUSPENDED', active: false },
    { state: 'PENDING_CLOSURE', active: false },
    { state: 'CLOSED', active: false },
  ])('an account whose State is $state is active: $active, and is listed either way', async ({ state, active }) => {
    const found = await accountsUnder(['ou-ab12-cdef3456'], reads([{ Id: '111111111111', State: state }]));
    expect(found.active.has('111111111111')).toBe(active);
    expect(found.inactive.has('111111111111')).toBe(!active);
  });

  it('reads State before the retired Status, and Status when State is missing', async () => {
    const found = await accountsUnder(
      ['ou-ab12-cdef3456'],
      reads([
        { Id: '111111111111', State: 'CLOSED', Status: 'ACTIVE' },
        { Id: '222222222222', Status: 'ACTIVE' },
      ]),
    );
    expect([...found.active]).toEqual(['222222222222']);
    expect([...found.inactive]).toEqual(['111111111111']);
    expect([
      ...(await activeAccountsUnder(['ou-ab12-cdef3456'], reads([{ Id: '222222222222', State: 'ACTIVE' }]))),
    ]).toEqual(['222222222222']);
  });
});
