/**
 * A stable shard of an id (a request id), 0 to `shards - 1`: items written at a high rate (the
 * guardrail's counters, holds in their index) are spread over several partitions by it, so no one
 * partition takes every write.
 */
export function shardOf(id: string, shards: number): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return h % shards;
}
