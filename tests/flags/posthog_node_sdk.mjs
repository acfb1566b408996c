// The real posthog-node SDK against a running saaskit, driven by tests/flags/test_posthog_node_sdk.py.
// Usage: node posthog_node_sdk.mjs '<json>' with the SDK installed next to NODE_PATH's module dir.
// Input: {host, key, personalApiKey, events, ids: [{id, personProperties, groups, groupProperties}],
//         flags: [key], evaluate: bool}. Output (stdout, one JSON document): what the SDK answered.
import { createRequire } from 'node:module'

const input = JSON.parse(process.argv[2])
const require = createRequire(input.modules + '/')
const { PostHog } = require('posthog-node')

const errors = []
const options = { host: input.host, flushAt: 20, flushInterval: 50, fetchRetryCount: 1 }
const remote = new PostHog(input.key, options)
remote.on('error', (error) => errors.push(String(error && error.message ? error.message : error)))

// Capture: events under a few ids, a person property, then an alias linking two ids.
for (let i = 0; i < input.events; i++) {
  remote.capture({ distinctId: `node-user-${i % 4}`, event: 'node_event', properties: { i } })
}
remote.capture({ distinctId: 'node-user-1', event: '$set', properties: { $set: { plan: 'team' } } })
remote.alias({ distinctId: 'node-user-1', alias: 'node-anon' })
await remote.flush()

const answers = []
if (input.evaluate) {
  const local = new PostHog(input.key, { ...options, personalApiKey: input.personalApiKey })
  local.on('error', (error) => errors.push(String(error && error.message ? error.message : error)))
  await local.waitForLocalEvaluationReady?.()
  for (const who of input.ids) {
    const context = {
      personProperties: who.personProperties,
      groups: who.groups,
      groupProperties: who.groupProperties,
      sendFeatureFlagEvents: false,
    }
    const localContext = { ...context, onlyEvaluateLocally: true }
    for (const key of input.flags) {
      answers.push({
        id: who.id,
        key,
        remote: (await remote.getFeatureFlag(key, who.id, context)) ?? null,
        remoteEnabled: (await remote.isFeatureEnabled(key, who.id, context)) ?? null,
        remotePayload: (await remote.getFeatureFlagPayload(key, who.id, undefined, context)) ?? null,
        local: (await local.getFeatureFlag(key, who.id, localContext)) ?? null,
        localEnabled: (await local.isFeatureEnabled(key, who.id, localContext)) ?? null,
        localPayload: (await local.getFeatureFlagPayload(key, who.id, undefined, localContext)) ?? null,
      })
    }
  }
  await local.shutdown()
}
await remote.shutdown()
process.stdout.write(JSON.stringify({ errors, answers }))
