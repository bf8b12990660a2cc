/** What the balancer needs of a member's health: whether it may get traffic now. */
export interface Availability {
  readonly up: boolean;
}

/** One member as the balancer sees it: its weight, and whether it may get traffic. */
export interface BalancedMember<T> {
  readonly value: T;
  readonly weight: number;
  readonly priority: number;
  readonly health: Availability;
}

/** The members of one priority, with their smooth weighted round-robin state. */
interface Group<T> {
  readonly members: readonly BalancedMember<T>[];
  /** Each member's running weight (smooth weighted round robin), by index. */
  readonly current: Float64Array;
}

/**
 * Picks a pool member per request (docs/backends.md): the group with the lowest priority number
 * that has a member up, and within it smooth weighted round robin over the members that are up
 * (each pick adds every eligible member's weight to its running weight, takes the largest, and
 * takes the eligible total off the one taken), so weights 3:1 give a b a a, a a b a, ... spread
 * out rather than in bursts. Deterministic, and a pick allocates nothing. When no member of any
 * group is up, it picks from the first group as if all its members were (fail-open: a request that
 * may fail is better than a certain 503 while health may be stale).
 */
export class Balancer<T> {
  readonly #groups: readonly Group<T>[];

  constructor(members: readonly BalancedMember<T>[]) {
    if (members.length === 0) throw new Error("a pool needs at least one member");
    const priorities = [...new Set(members.map((m) => m.priority))].sort((a, b) => a - b);
    this.#groups = priorities.map((p) => {
      const list = members.filter((m) => m.priority === p);
      return { members: list, current: new Float64Array(list.length) };
    });
  }

  /** The member for the next request. */
  pick(): T {
    const groups = this.#groups;
    for (let g = 0; g < groups.length; g++) {
      const index = next(groups[g]!, false);
      if (index >= 0) return groups[g]!.members[index]!.value;
    }
    const first = groups[0]!;
    return first.members[next(first, true)]!.value;
  }
}

/** Smooth weighted round robin over a group's members that are up (or all, with `all`); -1 when none is. */
function next<T>(group: Group<T>, all: boolean): number {
  const { members, current } = group;
  let best = -1;
  let total = 0;
  for (let i = 0; i < members.length; i++) {
    const member = members[i]!;
    if (!all && !member.health.up) continue;
    current[i]! += member.weight;
    total += member.weight;
    if (best < 0 || current[i]! > current[best]!) best = i;
  }
  if (best >= 0) current[best]! -= total;
  return best;
}
