# Sourced by scripts/gpu/mesh-run.sh: the four mesh services as separate processes over loopback gRPC, from the
# unpacked bundle ($rt). Reads java, run, logs, out, fixture, backend, PROPS_ALL, PROPS_ONE and say from the caller.
declare -A HTTP=([gateway]=18080 [vision]=18081 [projector]=18082 [decoder]=18083)
declare -A GRPC=([gateway]=19080 [vision]=19081 [projector]=19082 [decoder]=19083)
declare -A APP=([gateway]=gateway [vision]=vision-service [projector]=projector-service [decoder]=decoder-service)
declare -A PID
start() { # service device model tag extra -D...
  local s=$1 dev=$2 model=$3 tag=$4; shift 4
  local peers=()
  for p in vision projector decoder; do
    [ "$p" = "$s" ] || peers+=("-Dquarkus.grpc.clients.$p.host=127.0.0.1" "-Dquarkus.grpc.clients.$p.port=${GRPC[$p]}")
  done
  # Each its own temp and DJL cache directory: JCuda and DJL unpack their native libraries there, and three services
  # starting at once must not load one another's half-written copy.
  mkdir -p "$run/tmp/$s"
  # shellcheck disable=SC2086 # PROPS_ONE holds " -Dk=v" words
  DJL_CACHE_DIR=$run/djl-$s OTEL_SERVICE_NAME=${APP[$s]} "$java" -Djava.io.tmpdir="$run/tmp/$s" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx8g \
    -Djava.awt.headless=true -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="${HTTP[$s]}" \
    -Dquarkus.grpc.server.host=127.0.0.1 -Dquarkus.grpc.server.port="${GRPC[$s]}" "${peers[@]}" \
    -Dvqwen.model="$model" -Dvqwen.backend="$backend" -Dvqwen.device="$dev" -Dvqwen.synthetic.files-from="$fixture" \
    -Dvqwen.shutdown.drain-seconds=2 "$@" ${PROPS_ALL[@]+"${PROPS_ALL[@]}"} ${PROPS_ONE[$s]:-} -Djava.util.logging.manager=org.jboss.logmanager.LogManager \
    -jar "$rt/apps/${APP[$s]}/quarkus-run.jar" > "$logs/$tag-$s.log" 2>&1 &
  PID[$s]=$!
}
get() { # prints the body (a 503's too); fails unless 200
  python3 -c 'import sys, urllib.request, urllib.error
try: sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())
except urllib.error.HTTPError as e: sys.stdout.write(e.read().decode()); sys.exit(1)' "$1"
}
ready() { # waits for every service's /q/health/ready; fails early when one exits
  local deadline=$(( $(date +%s) + $1 )) s
  for s in vision projector decoder gateway; do
    until get "http://127.0.0.1:${HTTP[$s]}/q/health/ready" >/dev/null 2>&1; do
      if ! kill -0 "${PID[$s]}" 2>/dev/null; then say "$s exited before it was ready:"; tail -n 40 "$logs"/*-"$s".log; return 1; fi
      if [ "$(date +%s)" -ge "$deadline" ]; then
        say "$s not ready in time:"; get "http://127.0.0.1:${HTTP[$s]}/q/health/ready"; tail -n 20 "$logs"/*-"$s".log
        return 1
      fi
      sleep 0.5
    done
    say "$s ready"
  done
}
stop() {
  local s
  for s in gateway decoder projector vision; do kill "${PID[$s]}" 2>/dev/null; done
  for s in gateway decoder projector vision; do
    for _ in $(seq 1 40); do kill -0 "${PID[$s]}" 2>/dev/null || break; sleep 0.5; done
    kill -9 "${PID[$s]}" 2>/dev/null
  done
  wait "${PID[@]}" 2>/dev/null
}
mesh() { # model tag extra -D... (for every service)
  local model=$1 tag=$2; shift 2
  say "starting the mesh on $model ($tag)"
  start vision "$vision_dev" "$model" "$tag" "$@"
  start projector "$vision_dev" "$model" "$tag" "$@"
  start decoder "$decoder_dev" "$model" "$tag" "$@"
  start gateway 0 "$model" "$tag" "$@"
  ready "${READY_S:-240}" || return 1
  { echo "== $tag: GPU processes"; nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader
    for s in vision projector decoder gateway; do echo "$s pid ${PID[$s]}"; done; } >> "$logs/gpu-memory.txt" 2>&1
}
