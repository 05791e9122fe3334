"""Where a new container goes: CPU and memory reserved per node, eviction for room, and the start queue.

The platform counts what its live containers reserve (their configuration's CPU and memory) on the node each one
runs on, against what that node offers. A new container goes to the alive node with the most free CPU that fits it
(spreading containers, and so their interference, over the nodes) and is created there through Ray's node-affinity
scheduling (soft: if the node has just died, Ray places it elsewhere, and the container's own report of its node
corrects the count). If no node fits it, idle containers of *other* functions are evicted, least recently used first,
until one does; if none does even then, the start waits in a FIFO queue (no actor exists yet) and is retried
whenever a container goes away, falls idle or becomes ready.

**Start slots.** At most as many containers start at once on a node as it has CPUs (``start_slots`` per node, if
given: the physical cores, when the nodes declare more CPUs than they have to overcommit CPU limits): Ray itself
starts no more worker processes at once on a node (its ``maximum_startup_concurrency`` is the node's CPU count), so
more starts would only wait inside Ray, where nothing can cancel them. Waiting here instead, a start that no invocation needs
any more (the first container to become ready served the waiting invocations, in milliseconds each) is cancelled, as
the simulator cancels a queued start: a burst from zero costs a few cold starts, not one per request that arrived
while the first container was starting. Evicting idle containers frees room, never a start slot, so a start that
waits for a slot evicts nothing.

Nodes that leave the cluster are noticed by :meth:`Room.gone_containers` (the platform checks on a timer): their
containers are treated as dead, so the pools replace them on the nodes that remain.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from aquatope.resources import ResourceConfig
from aquatope.runtime.capacity import MIB, ClusterCapacity, Node
from aquatope.runtime.pool import Container, FunctionPool, lru_idle


class Room:
    """Per-node reservations and the start queue of one platform (module docstring)."""

    def __init__(
        self,
        capacity: ClusterCapacity,
        containers: list[Container],
        pools: dict[str, FunctionPool],
        wall: Callable[[], float],
        start_slots: int | None = None,
    ) -> None:
        self.capacity = capacity
        self.containers = containers
        self.pools = pools
        self.wall = wall
        self.start_slots = start_slots
        self.queue: deque[FunctionPool] = deque()
        self._draining = False
        self.closed = False

    def live(self) -> Iterable[Container]:
        return (c for c in self.containers if c.state != "gone")

    def usage(self) -> dict[str, tuple[float, float]]:
        """Per node id: (CPUs, memory bytes) reserved by live containers (placed ones only)."""
        used: dict[str, tuple[float, float]] = {}
        for c in self.live():
            if c.node_id is not None:
                cpu, mem = used.get(c.node_id, (0.0, 0.0))
                used[c.node_id] = (cpu + c.config.cpu, mem + c.config.memory_mb * MIB)
        return used

    def starting(self) -> dict[str, int]:
        """Per node id: containers starting there now."""
        out: dict[str, int] = {}
        for c in self.live():
            if c.state == "starting" and c.node_id is not None:
                out[c.node_id] = out.get(c.node_id, 0) + 1
        return out

    def slotted_nodes(self) -> list[Node]:
        """Alive nodes with a free start slot (module docstring)."""
        starting = self.starting()
        return [n for n in self.capacity.nodes() if starting.get(n.node_id, 0) < self.slots(n)]

    def slots(self, node: Node) -> int:
        """How many containers may start at once on ``node``."""
        return self.start_slots if self.start_slots else max(1, int(node.cpu))

    def place(self, config: ResourceConfig, nodes: list[Node] | None = None) -> Node | None:
        """The node (of ``nodes``, default all alive ones) with the most free CPU that fits ``config`` next to what
        is reserved; None if none."""
        used = self.usage()
        best: Node | None = None
        best_free = -1.0
        for node in self.capacity.nodes() if nodes is None else nodes:
            cpu, mem = used.get(node.node_id, (0.0, 0.0))
            free_cpu = node.cpu - cpu
            fits = config.cpu <= free_cpu + 1e-9 and mem + config.memory_mb * MIB <= node.memory_bytes
            if fits and free_cpu > best_free:
                best, best_free = node, free_cpu
        return best

    def make_room(self, config: ResourceConfig, exclude: str) -> Node | None:
        """A node with a free start slot for ``config``, evicting idle containers of other functions (least recently
        used first) until one fits; None if none does (the start must wait)."""
        while True:
            nodes = self.slotted_nodes()
            if not nodes:
                return None
            node = self.place(config, nodes)
            if node is not None:
                return node
            victim = lru_idle(list(self.pools.values()), exclude)
            if victim is None:
                return None
            self.pools[victim.function].evict(victim, self.wall(), refill=False)

    def enqueue(self, pool: FunctionPool) -> None:
        self.queue.append(pool)

    def dequeue(self, pool: FunctionPool) -> bool:
        """Remove ``pool``'s most recent queued start; False if it has none."""
        for i in range(len(self.queue) - 1, -1, -1):
            if self.queue[i] is pool:
                del self.queue[i]
                return True
        return False

    def drain(self) -> None:
        """Launch queued starts, in order, while there is room."""
        if self._draining or self.closed:
            return
        self._draining = True
        try:
            while self.queue:
                pool = self.queue[0]
                node = self.make_room(pool.config, exclude=pool.name)
                if node is None:
                    break
                self.queue.popleft()
                pool.launch(node.node_id, from_queue=True)
        finally:
            self._draining = False

    def gone_containers(self, alive_nodes: Iterable[Node]) -> list[Container]:
        """Live containers placed on nodes that are no longer alive."""
        alive = {n.node_id for n in alive_nodes}
        return [c for c in self.live() if c.node_id is not None and c.node_id not in alive]
