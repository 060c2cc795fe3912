import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.zookeeper.*;
import org.apache.zookeeper.data.Stat;

/**
 * The load tool's ZooKeeper twin (issue 8): the same workloads and table as Coordination.Bench, through
 * ZooKeeper's own Java client, for a side-by-side run (scripts/zookeeper-cluster.sh). Each client is its
 * own session, connected to one of the servers; with --sessions N the clients share N sessions (client i
 * uses session i mod N), whose requests the ZooKeeper client pipelines over one connection each, as
 * HTTP/2 multiplexes the load tool's requests (--http 2). Lock recipe: the standard one (ephemeral sequential
 * node, lowest wins, watch the predecessor).
 *   scripts/zk-bench.sh --seconds 5 --clients 1,64 --workloads config-put,lock-contended
 */
public final class ZkBench {
    interface Op { void run(int client, long n) throws Exception; }

    static String connect = "127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183";
    static double seconds = 5, warmup = 3, settle = 15;

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) a.put(args[i].substring(2), args[i + 1]);
        connect = a.getOrDefault("connect", connect);
        seconds = Double.parseDouble(a.getOrDefault("seconds", "5"));
        warmup = Double.parseDouble(a.getOrDefault("warmup", "3"));
        settle = Double.parseDouble(a.getOrDefault("settle", "15"));
        watchPutIntervalMs = Integer.parseInt(a.getOrDefault("watch-put-interval-ms", "5"));
        sessions = Integer.parseInt(a.getOrDefault("sessions", "0"));
        String[] workloads = a.getOrDefault("workloads", "config-put,get-linearizable,get-stale,lock-cycle,lock-contended,lock-contended-txn,watch-latency").split(",");
        int[] sweep = Arrays.stream(a.getOrDefault("clients", "1,64").split(",")).mapToInt(Integer::parseInt).toArray();
        System.out.printf("%-20s %8s %10s %8s %8s %9s %7s  %s%n", "workload", "clients", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "note");
        boolean settled = false;
        for (String w : workloads) {
            if (w.equals("watch-latency")) {
                for (int c : sweep) watchLatency(c, seconds);
                continue;
            }

            run(w, Math.min(Arrays.stream(sweep).max().getAsInt(), 64), settled ? warmup : Math.max(settle, warmup), false);
            settled = true;
            for (int c : sweep) run(w, c, seconds, true);
        }
        System.exit(0);
    }

    static ZooKeeper session() throws Exception {
        CountDownLatch up = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(connect, 30_000, e -> { if (e.getState() == Watcher.Event.KeeperState.SyncConnected) up.countDown(); });
        if (!up.await(30, TimeUnit.SECONDS)) throw new IllegalStateException("no ZooKeeper session");
        return zk;
    }

    static void ensure(ZooKeeper zk, String path, byte[] data) throws Exception {
        try { zk.create(path, data, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT); } catch (KeeperException.NodeExistsException ignored) { }
    }

    static byte[] bytes(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    static void run(String workload, int clients, double duration, boolean report) throws Exception {
        ZooKeeper[] zks = new ZooKeeper[clients];
        int opened = sessions > 0 ? Math.min(sessions, clients) : clients;
        for (int i = 0; i < clients; i++) zks[i] = i < opened ? session() : zks[i % opened];
        String run = UUID.randomUUID().toString().substring(0, 8);
        AtomicLong grants = new AtomicLong();
        String counter = "/bench-count-" + run, lockDir = "/bench-lock-" + run;
        ensure(zks[0], counter, bytes("0"));
        ensure(zks[0], lockDir, new byte[0]);
        ensure(zks[0], "/bench-get", bytes("{\"seeded\":true}"));
        for (int i = 0; i < clients; i++) { ensure(zks[0], "/bench-put-" + i, new byte[0]); ensure(zks[0], "/bench-own-" + run + "-" + i, new byte[0]); }
        Op op = switch (workload) {
            case "config-put" -> (i, n) -> zks[i].setData("/bench-put-" + i, bytes("{\"value\":" + n + "}"), -1);
            case "get-stale" -> (i, n) -> zks[i].getData("/bench-get", false, null);
            case "get-linearizable" -> (i, n) -> {
                // ZooKeeper reads are served by the connected server; sync first makes the read reflect every write before it.
                CompletableFuture<Void> synced = new CompletableFuture<>();
                zks[i].sync("/bench-get", (rc, p, ctx) -> { if (rc == 0) synced.complete(null); else synced.completeExceptionally(KeeperException.create(KeeperException.Code.get(rc))); }, null);
                synced.get();
                zks[i].getData("/bench-get", false, null);
            };
            case "lock-cycle" -> (i, n) -> {
                String dir = "/bench-own-" + run + "-" + i;
                String mine = acquire(zks[i], dir);
                zks[i].delete(mine, -1);
            };
            // ZooKeeper's grant carries no data: lock-contended-fetch is its one-step shape under that name.
            case "lock-contended", "lock-contended-txn", "lock-contended-fetch" -> (i, n) -> {
                String mine = acquire(zks[i], lockDir);
                grants.incrementAndGet();
                Stat stat = new Stat();
                long count = Long.parseLong(new String(zks[i].getData(counter, false, stat), StandardCharsets.UTF_8));
                if (workload.equals("lock-contended")) {
                    // Fenced by the version read: refused if anyone wrote in between.
                    zks[i].setData(counter, bytes(Long.toString(count + 1)), stat.getVersion());
                    zks[i].delete(mine, -1);
                } else {
                    zks[i].multi(List.of(Op2.set(counter, count + 1, stat.getVersion()), org.apache.zookeeper.Op.delete(mine, -1)));
                }
            };
            default -> throw new IllegalArgumentException("unknown workload " + workload);
        };
        List<Long> latencies = Collections.synchronizedList(new ArrayList<>());
        AtomicLong errors = new AtomicLong();
        long end = System.nanoTime() + (long) (duration * 1e9);
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        List<Future<?>> tasks = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            int i = c;
            tasks.add(pool.submit(() -> {
                List<Long> mine = new ArrayList<>();
                for (long n = 0; System.nanoTime() < end; n++) {
                    long started = System.nanoTime();
                    try { op.run(i, n); mine.add(System.nanoTime() - started); }
                    catch (Exception e) { errors.incrementAndGet(); }
                }
                latencies.addAll(mine);
            }));
        }
        long began = System.nanoTime();
        for (Future<?> t : tasks) t.get();
        double elapsed = (System.nanoTime() - began) / 1e9;
        pool.shutdown();
        String note = "";
        if (workload.startsWith("lock-contended")) {
            long fin = Long.parseLong(new String(zks[0].getData(counter, false, null), StandardCharsets.UTF_8));
            note = fin == grants.get() ? "count " + fin + " = grants" : "LOST UPDATES: count " + fin + ", grants " + grants.get();
        }
        for (ZooKeeper zk : new HashSet<>(Arrays.asList(zks))) zk.close();
        if (!report) return;
        long[] sorted = latencies.stream().mapToLong(Long::longValue).sorted().toArray();
        System.out.printf("%-20s %8d %10.0f %8.2f %8.2f %9.2f %7d  %s%n", workload, clients, sorted.length / elapsed,
            pct(sorted, 0.50), pct(sorted, 0.99), pct(sorted, 0.999), errors.get(), note);
    }

    /** How many sessions the clients of a run share (--sessions; 0: one each). */
    static int sessions = 0;

    /** How often the watch workload's writer puts (--watch-put-interval-ms; 0: back to back). */
    static int watchPutIntervalMs = 5;

    /**
     * One writer puts every watchPutIntervalMs; each watcher holds a data watch and sets it again when
     * it fires (a ZooKeeper watch fires once). Latency: from sending the put whose version the watch
     * was set before, to the notification; the note adds it from the put's acknowledgement (a
     * notification that came first counts 0), as the load tool does.
     */
    static void watchLatency(int watchers, double duration) throws Exception {
        ZooKeeper writer = session();
        String path = "/bench-watch-" + UUID.randomUUID().toString().substring(0, 8);
        writer.create(path, bytes("0"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        ConcurrentHashMap<Integer, Long> sent = new ConcurrentHashMap<>();
        ConcurrentHashMap<Integer, Long> acked = new ConcurrentHashMap<>();
        List<long[]> notified = Collections.synchronizedList(new ArrayList<>());
        List<ZooKeeper> sessions = new ArrayList<>();
        for (int w = 0; w < watchers; w++) {
            ZooKeeper zk = session();
            sessions.add(zk);
            new Object() {
                void arm() {
                    zk.getData(path, event -> {
                        long at = System.nanoTime();
                        if (event.getType() == Watcher.Event.EventType.NodeDataChanged) {
                            seen(at);
                            arm();
                        }
                    }, (rc, p, ctx, data, stat) -> { if (stat != null) armedAt = stat.getVersion(); }, null);
                }

                volatile int armedAt = -1;

                void seen(long at) {
                    if (armedAt >= 0) notified.add(new long[] { armedAt + 1, at });
                }
            }.arm();
        }

        Thread.sleep(500);
        long began = System.nanoTime(), end = began + (long) (duration * 1e9);
        for (int version = 1; System.nanoTime() < end; version++) {
            sent.put(version, System.nanoTime());
            writer.setData(path, bytes(Integer.toString(version)), version - 1);
            acked.put(version, System.nanoTime());
            if (watchPutIntervalMs > 0) Thread.sleep(watchPutIntervalMs);
        }

        Thread.sleep(200);
        double elapsed = (System.nanoTime() - began) / 1e9;
        for (ZooKeeper zk : sessions) zk.close();
        writer.close();
        List<Long> fromSent = new ArrayList<>(), fromAck = new ArrayList<>();
        int beforeAck = 0;
        synchronized (notified) {
            for (long[] n : notified) {
                Long sentAt = sent.get((int) n[0]), ackedAt = acked.get((int) n[0]);
                if (sentAt == null || ackedAt == null) continue;
                fromSent.add(n[1] - sentAt);
                fromAck.add(Math.max(0, n[1] - ackedAt));
                if (n[1] < ackedAt) beforeAck++;
            }
        }
        long[] sorted = fromSent.stream().mapToLong(Long::longValue).sorted().toArray();
        long[] sortedAck = fromAck.stream().mapToLong(Long::longValue).sorted().toArray();
        String interval = watchPutIntervalMs > 0 ? "a put every " + watchPutIntervalMs + " ms" : "puts back to back";
        System.out.printf("%-20s %8d %10.0f %8.2f %8.2f %9.2f %7d  from sending the put (%s); from its ack: p50 %.2f, p99 %.2f ms, %d%% came before the ack%n",
            "watch-latency", watchers, sorted.length / elapsed, pct(sorted, 0.50), pct(sorted, 0.99), pct(sorted, 0.999), 0,
            interval, pct(sortedAck, 0.50), pct(sortedAck, 0.99), Math.round(100.0 * beforeAck / Math.max(1, sortedAck.length)));
    }

    static double pct(long[] sorted, double p) {
        return sorted.length == 0 ? 0 : sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)] / 1e6;
    }

    /** The standard lock recipe: lowest sequence number holds; others watch their predecessor. */
    static String acquire(ZooKeeper zk, String dir) throws Exception {
        String mine = zk.create(dir + "/lock-", new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL_SEQUENTIAL);
        String name = mine.substring(dir.length() + 1);
        while (true) {
            List<String> children = zk.getChildren(dir, false);
            Collections.sort(children);
            int at = children.indexOf(name);
            if (at == 0) return mine;
            CountDownLatch gone = new CountDownLatch(1);
            Stat exists = zk.exists(dir + "/" + children.get(at - 1), e -> gone.countDown());
            if (exists != null) gone.await();
        }
    }

    static final class Op2 {
        static org.apache.zookeeper.Op set(String path, long value, int version) { return org.apache.zookeeper.Op.setData(path, bytes(Long.toString(value)), version); }
    }
}
