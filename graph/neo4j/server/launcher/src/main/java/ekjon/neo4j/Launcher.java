package ekjon.neo4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.SettingValueParsers;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.kernel.internal.Version;
import org.neo4j.logging.log4j.Log4jLogProvider;

/**
 * Runs a Neo4j Community DBMS for ekjon until the process is told to stop (SIGTERM / SIGINT).
 *
 * <p>Started by {@code ekjon neo4j start} (graph/server/__init__.py), which owns the pid file and
 * the credentials; this class only serves. Arguments, all {@code --name=value}:
 *
 * <ul>
 *   <li>{@code --home}: the DBMS home; data under {@code data/}, Neo4j's own logs under
 *       {@code logs/}, optional extra settings in {@code conf/neo4j.conf}.
 *   <li>{@code --bolt-port}, {@code --http-port} (0 turns HTTP off): both bound to 127.0.0.1 only.
 *   <li>{@code --pagecache}: page cache size, e.g. {@code 2g}.
 * </ul>
 *
 * <p>If the environment variable {@code EKJON_NEO4J_INITIAL_PASSWORD} is set, the password of user
 * {@code neo4j} is set to it before any connector opens: the DBMS is first started with Bolt and
 * HTTP off, the password altered on the system database, and the DBMS restarted with connectors on.
 * So no client ever sees the default {@code neo4j/neo4j} login. The password travels in the
 * environment (readable by the same user only), never on the command line.
 */
public final class Launcher {
    static final String PASSWORD_ENV = "EKJON_NEO4J_INITIAL_PASSWORD";
    static final String LOOPBACK = "127.0.0.1";

    private Launcher() {}

    public static void main(String[] argv) {
        Map<String, String> args = parseArgs(argv);
        Path home = Path.of(required(args, "home")).toAbsolutePath();
        int boltPort = Integer.parseInt(required(args, "bolt-port"));
        int httpPort = Integer.parseInt(args.getOrDefault("http-port", "0"));
        String pagecache = args.getOrDefault("pagecache", "2g");

        Log4jLogProvider log = new Log4jLogProvider(System.out);
        String password = System.getenv(PASSWORD_ENV);
        AtomicReference<DatabaseManagementService> running = new AtomicReference<>();
        CountDownLatch built = new CountDownLatch(1);
        CountDownLatch stopped = new CountDownLatch(1);
        // SIGTERM and SIGINT run shutdown hooks. The hook is in place before the DBMS starts, so a
        // stop that arrives mid-start waits for the start to finish and then closes the stores
        // cleanly, rather than the JVM exiting under a half-open database.
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            try {
                                built.await(10, TimeUnit.MINUTES);
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                            DatabaseManagementService dbms = running.get();
                            if (dbms != null) {
                                System.out.println("ekjon: shutting down Neo4j");
                                dbms.shutdown();
                                System.out.println("ekjon: Neo4j stopped");
                            }
                            stopped.countDown();
                        },
                        "ekjon-neo4j-shutdown"));
        try {
            if (password != null && !password.isEmpty()) {
                setInitialPassword(home, pagecache, password, log);
            }
            running.set(builder(home, pagecache, log)
                    .setConfig(BoltConnector.enabled, true)
                    .setConfig(BoltConnector.listen_address, new SocketAddress(LOOPBACK, boltPort))
                    .setConfig(BoltConnector.advertised_address, new SocketAddress(LOOPBACK, boltPort))
                    .setConfig(HttpConnector.enabled, httpPort > 0)
                    .setConfig(HttpConnector.listen_address, new SocketAddress(LOOPBACK, Math.max(httpPort, 1)))
                    .setConfig(
                            HttpConnector.advertised_address, new SocketAddress(LOOPBACK, Math.max(httpPort, 1)))
                    .build());
            System.out.printf(
                    "ekjon: Neo4j %s ready: bolt://%s:%d%s, home %s%n",
                    Version.getNeo4jVersion(),
                    LOOPBACK,
                    boltPort,
                    httpPort > 0 ? String.format(", http://%s:%d", LOOPBACK, httpPort) : "",
                    home);
            built.countDown();
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Throwable e) { // whatever it is, the shutdown hook must not wait for it
            built.countDown();
            System.err.println("ekjon: Neo4j failed to start: " + e);
            e.printStackTrace();
            System.exit(1);
        }
    }

    /** Settings shared by both phases: home, memory, auth on, nothing listening beyond loopback. */
    static DatabaseManagementServiceBuilder builder(Path home, String pagecache, Log4jLogProvider log) {
        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(home);
        Path extraSettings = home.resolve("conf").resolve("neo4j.conf");
        if (Files.isRegularFile(extraSettings)) {
            builder.loadPropertiesFromFile(extraSettings);
        }
        return builder.setUserLogProvider(log)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.default_listen_address, new SocketAddress(LOOPBACK))
                .setConfig(GraphDatabaseSettings.routing_enabled, false)
                .setConfig(GraphDatabaseSettings.pagecache_memory, SettingValueParsers.BYTES.parse(pagecache))
                .setConfig(GraphDatabaseSettings.udc_enabled, false)
                .setConfig(GraphDatabaseSettings.shutdown_transaction_end_timeout, Duration.ofSeconds(10))
                // Bolt closes after the databases have stopped, so waiting 5 s twice for idle
                // connections and worker threads only delays `ekjon neo4j stop`.
                .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1))
                .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1))
                .setConfig(HttpsConnector.enabled, false);
    }

    /** Phase one of a first start: set neo4j's password with every connector closed. */
    static void setInitialPassword(Path home, String pagecache, String password, Log4jLogProvider log) {
        System.out.println("ekjon: setting the password of user neo4j (connectors closed)");
        DatabaseManagementService dbms = builder(home, pagecache, log)
                .setConfig(BoltConnector.enabled, false)
                .setConfig(HttpConnector.enabled, false)
                .build();
        try {
            dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME)
                    .executeTransactionally(
                            "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                            Map.of("password", password));
        } catch (RuntimeException e) {
            // A retried first start (the earlier one died after this step) finds the password set.
            if (!String.valueOf(e.getMessage()).contains("cannot be the same")) {
                throw e;
            }
        } finally {
            dbms.shutdown();
        }
    }

    static Map<String, String> parseArgs(String[] argv) {
        Map<String, String> args = new HashMap<>();
        for (String arg : argv) {
            if (!arg.startsWith("--") || !arg.contains("=")) {
                throw new IllegalArgumentException("Expected --name=value, got: " + arg);
            }
            int eq = arg.indexOf('=');
            args.put(arg.substring(2, eq), arg.substring(eq + 1));
        }
        return args;
    }

    static String required(Map<String, String> args, String name) {
        String value = args.get(name);
        if (value == null || value.isEmpty()) {
            throw new IllegalArgumentException("Missing required argument --" + name + "=...");
        }
        return value;
    }
}
