/**
 * The SaaS applications sessions live in: their everyday actions, which sensitive actions they
 * have, what their resource names look like, and which roles use them.
 */
import type { PrincipalType } from '../contract';
import type { Rng } from './rng';

export const APP_NAMES = [
  'salesforce',
  'workday',
  'aws-console',
  'github',
  'okta-admin',
  'snowflake',
  'servicenow',
  'google-workspace',
] as const;
export type AppName = (typeof APP_NAMES)[number];

export interface AppSpec {
  readonly name: AppName;
  /** Everyday (non-sensitive) actions and their weights; view and search dominate. */
  readonly everyday: readonly (readonly [string, number])[];
  /** The sensitive actions (contract SENSITIVE_ACTIONS) this app has. */
  readonly sensitive: readonly string[];
  resource(rng: Rng, action: string): string | null;
}

const ACCOUNTS = [
  'Acme Corp',
  'Globex',
  'Initech',
  'Umbrella Health',
  'Stark Logistics',
  'Wayne Foods',
  'Hooli',
  'Vandelay Import',
];
const REPOS = [
  'payments-api',
  'web-frontend',
  'infra-terraform',
  'mobile-app',
  'data-pipeline',
  'auth-service',
  'docs',
];
const TABLES = ['CUSTOMERS', 'ORDERS', 'INVOICES', 'PAYROLL', 'EVENTS_RAW', 'CARD_TOKENS', 'LEADS'];
const BUCKETS = ['acme-prod-backups', 'acme-data-lake', 'acme-logs-archive', 'acme-customer-exports'];
const IAM_ROLES = [
  'OrganizationAccountAccessRole',
  'AdminRole',
  'ReadOnlyAuditor',
  'DataEngineer',
  'ci-deployer',
];
const OKTA_GROUPS = [
  'Everyone',
  'Engineering',
  'Finance-Approvers',
  'Okta-Super-Admins',
  'Contractors',
  'Sales',
];
const QUERIES = [
  'renewal q3',
  'open opportunities',
  'pto balance',
  'vpn outage',
  'invoice 2024',
  'onboarding',
  'sso error',
];

const id = (rng: Rng, prefix: string, hexLen: number) => `${prefix}${rng.hex(hexLen)}`;
const num = (rng: Rng, prefix: string, digits: number) =>
  `${prefix}${rng.int(10 ** (digits - 1), 10 ** digits - 1)}`;

function app(
  name: AppName,
  everyday: readonly (readonly [string, number])[],
  sensitive: readonly string[],
  resource: (rng: Rng, action: string) => string | null,
): AppSpec {
  return { name, everyday, sensitive, resource };
}

const searchOr = (rng: Rng, action: string, other: () => string | null) =>
  action === 'search' ? `q:${rng.pick(QUERIES)}` : other();

export const APPS: Readonly<Record<AppName, AppSpec>> = {
  salesforce: app(
    'salesforce',
    [
      ['view', 60],
      ['search', 25],
      ['update', 15],
    ],
    ['export', 'permission_change', 'config_change', 'api_token_create'],
    (rng, action) =>
      searchOr(rng, action, () => {
        if (action === 'export') return `Report/00O${rng.hex(12)}`;
        if (action === 'permission_change') return `PermissionSet/0PS${rng.hex(12)}`;
        if (action === 'api_token_create') return `ConnectedApp/0H4${rng.hex(12)}`;
        return rng.chance(0.5)
          ? `Account/001${rng.hex(12)} (${rng.pick(ACCOUNTS)})`
          : `Opportunity/006${rng.hex(12)}`;
      }),
  ),
  workday: app(
    'workday',
    [
      ['view', 65],
      ['search', 20],
      ['submit', 15],
    ],
    ['approve', 'export', 'permission_change'],
    (rng, action) =>
      searchOr(rng, action, () => {
        if (action === 'approve')
          return rng.chance(0.6) ? num(rng, 'expense_report/ER-', 6) : num(rng, 'time_off/TO-', 6);
        if (action === 'export')
          return rng.pick(['report/Worker_Compensation', 'report/Headcount', 'report/Bank_Accounts']);
        if (action === 'permission_change')
          return `security_group/${rng.pick(['HR_Partner', 'Payroll_Admin', 'Finance_Approver'])}`;
        return rng.chance(0.5) ? num(rng, 'worker/W-', 6) : num(rng, 'payslip/PS-', 7);
      }),
  ),
  'aws-console': app(
    'aws-console',
    [
      ['view', 55],
      ['list', 25],
      ['search', 10],
      ['describe', 10],
    ],
    ['config_change', 'permission_change', 'api_token_create', 'export'],
    (rng, action) =>
      searchOr(rng, action, () => {
        const acct = rng.pick(['123456789012', '210987654321', '555544443333']);
        if (action === 'api_token_create')
          return `arn:aws:iam::${acct}:user/${rng.pick(['ci-bot', 'deploy', 'jdoe', 'backup'])}/accesskey`;
        if (action === 'permission_change') return `arn:aws:iam::${acct}:role/${rng.pick(IAM_ROLES)}`;
        if (action === 'config_change')
          return rng.pick([`cloudtrail/${acct}/org-trail`, `guardduty/${acct}`, `ec2/sg-${rng.hex(17)}`]);
        if (action === 'export') return `s3://${rng.pick(BUCKETS)}/${rng.hex(8)}.parquet`;
        return rng.chance(0.5) ? id(rng, 'ec2/i-0', 16) : `s3://${rng.pick(BUCKETS)}`;
      }),
  ),
  github: app(
    'github',
    [
      ['view', 55],
      ['search', 15],
      ['comment', 15],
      ['push', 15],
    ],
    ['api_token_create', 'config_change', 'permission_change', 'export'],
    (rng, action) =>
      searchOr(rng, action, () => {
        const repo = `acme/${rng.pick(REPOS)}`;
        if (action === 'api_token_create')
          return `settings/personal-access-tokens/${rng.int(1_000_000, 9_999_999)}`;
        if (action === 'config_change') return `${repo}/settings/branch_protection_rules/main`;
        if (action === 'permission_change') return `${repo}/settings/access`;
        if (action === 'export') return `${repo}/archive/refs/heads/main.zip`;
        return rng.chance(0.5)
          ? `${repo}/pull/${rng.int(10, 4000)}`
          : `${repo}/blob/main/${rng.pick(['README.md', 'src/index.ts', 'main.tf'])}`;
      }),
  ),
  'okta-admin': app(
    'okta-admin',
    [
      ['view', 60],
      ['search', 40],
    ],
    ['permission_change', 'config_change', 'api_token_create', 'export'],
    (rng, action) =>
      searchOr(rng, action, () => {
        if (action === 'permission_change') return `group/00g${rng.hex(17)} (${rng.pick(OKTA_GROUPS)})`;
        if (action === 'config_change')
          return rng.pick(['policy/mfa-enrollment', 'policy/global-session', 'network-zone/BlockedIpZone']);
        if (action === 'api_token_create') return `api-token/00T${rng.hex(17)}`;
        if (action === 'export') return 'report/users-csv';
        return `user/00u${rng.hex(17)}`;
      }),
  ),
  snowflake: app(
    'snowflake',
    [
      ['query', 50],
      ['view', 30],
      ['search', 20],
    ],
    ['export', 'permission_change', 'config_change'],
    (rng, action) =>
      searchOr(rng, action, () => {
        const table = `ANALYTICS.PUBLIC.${rng.pick(TABLES)}`;
        if (action === 'permission_change')
          return `grant/ROLE_${rng.pick(['ANALYST', 'ACCOUNTADMIN', 'LOADER'])}`;
        if (action === 'config_change') return rng.pick(['network_policy/CORP_ONLY', 'warehouse/ETL_WH']);
        return table;
      }),
  ),
  servicenow: app(
    'servicenow',
    [
      ['view', 50],
      ['search', 20],
      ['update', 20],
      ['comment', 10],
    ],
    ['export', 'approve', 'config_change'],
    (rng, action) =>
      searchOr(rng, action, () => {
        if (action === 'approve') return num(rng, 'change_request/CHG', 7);
        if (action === 'export')
          return rng.pick(['incident_list.csv', 'cmdb_ci_list.csv', 'sys_user_list.csv']);
        if (action === 'config_change')
          return `sys_properties/${rng.pick(['glide.ui.session_timeout', 'glide.authenticate.multifactor'])}`;
        return rng.chance(0.7) ? num(rng, 'incident/INC', 7) : num(rng, 'kb/KB', 7);
      }),
  ),
  'google-workspace': app(
    'google-workspace',
    [
      ['view', 55],
      ['search', 15],
      ['edit', 30],
    ],
    ['export', 'permission_change', 'config_change'],
    (rng, action) =>
      searchOr(rng, action, () => {
        if (action === 'export')
          return rng.pick([`takeout/${rng.hex(10)}`, `drive/folder/1${rng.hex(20)}.zip`]);
        if (action === 'permission_change') return `drive/file/1${rng.hex(20)}/sharing (anyone with link)`;
        if (action === 'config_change')
          return rng.pick(['gmail/settings/forwarding', 'gmail/settings/filters', 'admin/security/2sv']);
        return rng.chance(0.6) ? `docs/d/1${rng.hex(20)}` : `drive/file/1${rng.hex(20)}`;
      }),
  ),
};

/** Rows read or written, where the app would know: a single record, a result page, an export. */
export function recordsFor(rng: Rng, action: string): number | null {
  switch (action) {
    case 'view':
    case 'update':
    case 'edit':
    case 'approve':
    case 'permission_change':
      return 1;
    case 'search':
    case 'list':
      return rng.int(0, 200);
    case 'query':
      return Math.round(rng.logNormal(300, 1.5));
    case 'export':
      return Math.round(rng.logNormal(400, 0.9));
    default:
      return null;
  }
}

export const ROLES = [
  'sales',
  'finance',
  'hr',
  'engineer',
  'analyst',
  'support',
  'it_admin',
  'contractor',
  'service',
] as const;
export type Role = (typeof ROLES)[number];

export interface RoleSpec {
  readonly principal: PrincipalType;
  readonly apps: readonly (readonly [AppName, number])[];
  /** Sensitive actions this role performs in the normal course of work. */
  readonly sensitive: readonly string[];
  /** Chance that any one action of a session is one of those. */
  readonly sensitiveRate: number;
}

export const ROLE_SPECS: Readonly<Record<Role, RoleSpec>> = {
  sales: {
    principal: 'EMPLOYEE',
    apps: [
      ['salesforce', 7],
      ['google-workspace', 3],
    ],
    sensitive: ['export'],
    sensitiveRate: 0.02,
  },
  finance: {
    principal: 'EMPLOYEE',
    apps: [
      ['workday', 4],
      ['snowflake', 2],
      ['google-workspace', 2],
    ],
    sensitive: ['approve', 'export'],
    sensitiveRate: 0.04,
  },
  hr: {
    principal: 'EMPLOYEE',
    apps: [
      ['workday', 7],
      ['google-workspace', 2],
    ],
    sensitive: ['approve', 'export'],
    sensitiveRate: 0.03,
  },
  engineer: {
    principal: 'EMPLOYEE',
    apps: [
      ['github', 5],
      ['aws-console', 3],
      ['servicenow', 1],
    ],
    sensitive: ['api_token_create', 'config_change'],
    sensitiveRate: 0.01,
  },
  analyst: {
    principal: 'EMPLOYEE',
    apps: [
      ['snowflake', 6],
      ['salesforce', 1],
      ['google-workspace', 1],
    ],
    sensitive: ['export'],
    sensitiveRate: 0.03,
  },
  support: {
    principal: 'EMPLOYEE',
    apps: [
      ['servicenow', 6],
      ['salesforce', 2],
    ],
    sensitive: ['export'],
    sensitiveRate: 0.005,
  },
  it_admin: {
    principal: 'ADMIN',
    apps: [
      ['okta-admin', 4],
      ['aws-console', 3],
      ['google-workspace', 2],
      ['github', 1],
    ],
    sensitive: ['permission_change', 'config_change', 'api_token_create'],
    sensitiveRate: 0.04,
  },
  contractor: {
    principal: 'CONTRACTOR',
    apps: [
      ['servicenow', 3],
      ['github', 2],
      ['salesforce', 2],
      ['snowflake', 1],
    ],
    sensitive: ['export'],
    sensitiveRate: 0.02,
  },
  service: {
    principal: 'SERVICE',
    apps: [
      ['snowflake', 3],
      ['salesforce', 2],
      ['aws-console', 2],
      ['github', 1],
      ['servicenow', 1],
      ['workday', 1],
    ],
    sensitive: ['export'],
    sensitiveRate: 0.05,
  },
};
