# Sourced by scripts/gpu/mesh-run.sh: the services bundle's parts on the GPU machine. Each call carries one part
# (.gpu-services/pK, with parts.sha256 and whole.sha256 of its build); it is checked and kept under $parts, which is
# under target/ (ignored by the tracked .gitignore, so the machine keeps it between calls while it is warm). The run
# joins every part, checks the whole, and unpacks it once into $rt.

# Sets need (every part of the build) and missing (those not staged yet).
stage_parts() {
  mkdir -p "$parts"
  for d in .gpu-services/p[0-9]*; do
    [ -f "$d/services.tar.xz.part" ] || continue
    p=${d##*/}
    want=$(grep " $p/services.tar.xz.part\$" "$d/parts.sha256" | cut -d' ' -f1)
    have=$(sha256sum < "$d/services.tar.xz.part" | cut -d' ' -f1)
    [ "$want" = "$have" ] || { echo "$d is corrupt (sha256 $have, parts.sha256 says $want)"; return 1; }
    # a part of another bundle build: what was staged from the old one is no use
    cmp -s "$d/parts.sha256" "$parts/parts.sha256" 2>/dev/null || { rm -f "$parts"/*; cp "$d/parts.sha256" "$d/whole.sha256" "$parts/"; }
    cp "$d/services.tar.xz.part" "$parts/$p"
    [ -f "$d/commit" ] && cp "$d/commit" "$parts/commit"
  done
  [ -f "$parts/parts.sha256" ] || { echo "no part of the bundle here: run scripts/gpu/services-bundle.sh and carry .gpu-services/p1"; return 1; }
  need=$(cut -d' ' -f3 "$parts/parts.sha256" | cut -d/ -f1)
  missing=$(for p in $need; do [ -f "$parts/$p" ] || echo "$p"; done | paste -sd' ')
}

# Sets have (the joined bundle's sha256), or fails when a part is missing or the whole is not the built one.
join_parts() {
  [ -z "$missing" ] || { echo "bundle parts missing here: $missing (staged: $(ls "$parts" | paste -sd' ')); carry each in a --stage call first"; return 1; }
  have=$(for p in $need; do cat "$parts/$p"; done | sha256sum | cut -d' ' -f1)
  [ "$have" = "$(cat "$parts/whole.sha256")" ] || { echo "the joined bundle's sha256 $have is not whole.sha256's"; return 1; }
}

# Unpacks the joined bundle into $rt unless that is done already (an earlier call on this machine).
unpack_bundle() {
  rt=$run/rt
  if [ "$(cat "$rt/.sha256" 2>/dev/null)" != "$have" ]; then
    rm -rf "$rt" && mkdir -p "$rt" && for p in $need; do cat "$parts/$p"; done | xz -d -T0 | tar -C "$rt" -xf - || return 1
    for a in "$rt"/apps/*; do ln -s ../../lib "$a/lib"; done
    echo "$have" > "$rt/.sha256"
  fi
}
