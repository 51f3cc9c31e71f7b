#!/bin/sh
# containerd 2.x image verifier for taglog. Install as an executable file in the bindir plugin's
# bin_dir (default /opt/containerd/image-verifier/bin/): containerd runs every file there before
# each pull as `-name <ref> -digest <digest> -stdin-media-type <type>` and pulls only if all of them
# exit 0. This wrapper adds taglog's settings; edit the paths, and see docs/pull-path.md.
#
# Optional flags (before "$@"): -uncovered allow (let references no publisher line covers pass,
# e.g. the node's pause image), -log <url> (override the policy's log URL), -timeout 8s (keep it
# below containerd's per_verifier_timeout), -insecure-registry <host:port>.
exec /usr/local/bin/taglog-containerd-verifier \
  -policy /etc/taglog/policy \
  -state-dir /var/lib/taglog/containerd \
  "$@"
