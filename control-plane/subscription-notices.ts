/**
 * What the control plane tells an operator about subscriptions and their keys, and which keys a
 * view carries for each: a key stored by `portico subscription` replaces one written in the desired
 * configuration. Names only, never a key.
 */
import type { DesiredConfig, YamlKeyHashes } from "./desired.ts";
import { KEY_FIELDS, KEY_SLOTS, type SubscriptionKeys } from "./subscriptions.ts";

/** The keyed hashes a subscription's keys have in views: a key stored by the CLI replaces one written in the configuration. */
export function effectiveKeys(desired: DesiredConfig, index: number, stored: SubscriptionKeys): YamlKeyHashes {
  const byCli = stored.byName.get(desired.config.subscriptions[index]!.name);
  const keys: { primaryKey?: string; secondaryKey?: string } = { ...desired.subscriptionKeys[index] };
  for (const slot of KEY_SLOTS) {
    const hash = byCli?.[slot]?.hash;
    if (hash !== undefined) keys[KEY_FIELDS[slot]] = hash;
  }
  return keys;
}

/** What an operator should know about subscriptions and their keys: one line per subscription, never a key. */
export interface SubscriptionNotice {
  readonly subscription: string;
  readonly message: string;
}

/**
 * Subscriptions that can pass no request (no key in the configuration and none stored), keys stored
 * by the CLI that replace keys written in the configuration, and stored keys of names the
 * configuration does not have (unused until it does).
 */
export function subscriptionNotices(desired: DesiredConfig, stored: SubscriptionKeys): SubscriptionNotice[] {
  const notices: SubscriptionNotice[] = [];
  const names = new Set<string>();
  desired.config.subscriptions.forEach((subscription, i) => {
    names.add(subscription.name);
    const keys = effectiveKeys(desired, i, stored);
    if (keys.primaryKey === undefined && keys.secondaryKey === undefined) {
      notices.push({
        subscription: subscription.name,
        message: `subscription has no keys, so it can pass no request: give it keys with portico subscription create --name ${subscription.name}`,
      });
    }
    for (const slot of KEY_SLOTS) {
      if (desired.subscriptionKeys[i]?.[KEY_FIELDS[slot]] !== undefined && stored.byName.get(subscription.name)?.[slot] !== undefined) {
        notices.push({
          subscription: subscription.name,
          message: `the ${slot} key stored by portico subscription replaces the ${KEY_FIELDS[slot]} written in the configuration`,
        });
      }
    }
  });
  for (const name of stored.byName.keys()) {
    if (!names.has(name)) notices.push({ subscription: name, message: "stored keys of a subscription the desired configuration does not have: unused" });
  }
  return notices;
}
