#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft) built from the official Maven Central artifacts.
#
#   deploy/local/kafka.sh fetch                      resolve the broker jars into the cache
#   deploy/local/kafka.sh start  [--port 9092] [--controller-port 9093] [--data-dir var/kafka]
#   deploy/local/kafka.sh stop   [--data-dir var/kafka]
#   deploy/local/kafka.sh status [--data-dir var/kafka]
#
# The broker runs in the background; its pid, config and log live in the data dir, so several
# brokers (one per test session, say) can run side by side on different ports and dirs.
set -euo pipefail

KAFKA_VERSION="${XINFANG_KAFKA_VERSION:-4.4.0}"
CACHE_ROOT="${XINFANG_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xinfang/kafka}"
LIBS="$CACHE_ROOT/$KAFKA_VERSION/libs"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT=9092
CONTROLLER_PORT=""
DATA_DIR="var/kafka"
HEAP="${XINFANG_KAFKA_HEAP:-512m}"
START_TIMEOUT="${XINFANG_KAFKA_START_TIMEOUT:-90}"

die() { echo "kafka.sh: $*" >&2; exit 1; }

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) PORT="$2"; shift 2 ;;
      --controller-port) CONTROLLER_PORT="$2"; shift 2 ;;
      --data-dir) DATA_DIR="$2"; shift 2 ;;
      *) die "unknown argument: $1" ;;
    esac
  done
  [ -n "$CONTROLLER_PORT" ] || CONTROLLER_PORT=$((PORT + 1))
  mkdir -p "$DATA_DIR"
  DATA_DIR="$(cd "$DATA_DIR" && pwd)"
}

fetch() {
  if [ -f "$LIBS/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Kafka"
  command -v java >/dev/null || die "Java 17+ is needed to run Kafka"
  echo "kafka.sh: resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central into $LIBS" >&2
  rm -rf "$LIBS" && mkdir -p "$LIBS"
  mvn -q -B -f "$HERE/kafka-pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2 \
    || die "Maven could not resolve Kafka $KAFKA_VERSION"
  touch "$LIBS/.complete"
}

pid_of() {
  local pidfile="$DATA_DIR/broker.pid"
  [ -f "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_config() {
  cat > "$DATA_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR/data
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=1
PROPS
  cat > "$DATA_DIR/log4j2.properties" <<PROPS
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $DATA_DIR/broker.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
PROPS
}

start() {
  parse_args "$@"
  if pid="$(pid_of)"; then echo "kafka.sh: already running (pid $pid) on 127.0.0.1:$PORT" >&2; return 0; fi
  port_open "$PORT" && die "port $PORT is already in use by another process"
  fetch
  write_config
  local cp="$LIBS/*"
  if [ ! -f "$DATA_DIR/data/meta.properties" ]; then
    local cluster_id
    cluster_id="$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    java -cp "$cp" -Dlog4j2.configurationFile="$DATA_DIR/log4j2.properties" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$DATA_DIR/server.properties" \
      > "$DATA_DIR/format.log" 2>&1 || { cat "$DATA_DIR/format.log" >&2; die "formatting KRaft storage failed"; }
  fi
  : > "$DATA_DIR/broker.log"
  nohup java -Xms128m -Xmx"$HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Dlog4j2.configurationFile="$DATA_DIR/log4j2.properties" -Djava.awt.headless=true \
    -cp "$cp" kafka.Kafka "$DATA_DIR/server.properties" \
    > "$DATA_DIR/broker.out" 2>&1 < /dev/null &
  echo $! > "$DATA_DIR/broker.pid"
  local waited=0
  until grep -q "Kafka Server started" "$DATA_DIR/broker.log" 2>/dev/null && port_open "$PORT"; do
    if ! pid_of >/dev/null; then
      tail -n 30 "$DATA_DIR/broker.out" "$DATA_DIR/broker.log" >&2 || true
      die "the broker exited during start-up"
    fi
    if [ "$waited" -ge "$((START_TIMEOUT * 5))" ]; then
      stop_broker; die "the broker did not answer within ${START_TIMEOUT}s"
    fi
    sleep 0.2; waited=$((waited + 1))
  done
  echo "kafka.sh: Kafka $KAFKA_VERSION ready on 127.0.0.1:$PORT (data in $DATA_DIR)" >&2
}

stop_broker() {
  local pid
  pid="$(pid_of)" || { rm -f "$DATA_DIR/broker.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "kafka.sh: broker $pid did not stop in 30s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DATA_DIR/broker.pid"
}

cmd="${1:-}"; [ $# -gt 0 ] && shift
case "$cmd" in
  fetch) fetch ;;
  start) start "$@" ;;
  stop) parse_args "$@"; stop_broker; echo "kafka.sh: stopped" >&2 ;;
  status) parse_args "$@"; if pid="$(pid_of)"; then echo "running (pid $pid)"; else echo "stopped"; exit 3; fi ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
