#!/usr/bin/env bash
# Makes the webhook's TLS material with openssl: a CA (ECDSA P-256) and a serving certificate for
# the Service name the API server calls (taglog-admission.taglog-system.svc), then writes into
# OUT_DIR: ca.crt, ca.key (keep it offline), tls.crt, tls.key, secret.yaml (the Secret the
# Deployment mounts) and mutating-webhook.yaml (with caBundle filled in).
#
#   deploy/kubernetes/certs.sh OUT_DIR [DAYS]
#   kubectl apply -f deploy/kubernetes/taglog-admission.yaml -f OUT_DIR/secret.yaml
#   kubectl apply -f OUT_DIR/mutating-webhook.yaml
#
# Renew before DAYS (default 365) pass: the API server refuses an expired certificate and, with
# failurePolicy: Fail, then admits nothing in the selected namespaces.
set -euo pipefail
out="${1:?usage: certs.sh OUT_DIR [DAYS]}"
days="${2:-365}"
here="$(cd "$(dirname "$0")" && pwd)"
service=taglog-admission
namespace=taglog-system
dns="${service}.${namespace}.svc"

mkdir -p "$out"
umask 077
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/ca.key" 2>/dev/null
openssl req -x509 -new -key "$out/ca.key" -subj "/CN=taglog admission CA" -days "$days" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$out/ca.crt"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/tls.key" 2>/dev/null
openssl req -new -key "$out/tls.key" -subj "/CN=${dns}" -out "$out/tls.csr"
cat > "$out/ext.cnf" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:${dns}, DNS:${dns}.cluster.local, DNS:${service}.${namespace}
EXT
openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -days "$days" -extfile "$out/ext.cnf" -out "$out/tls.crt" 2>/dev/null
rm -f "$out/tls.csr" "$out/ext.cnf" "$out/ca.srl"

b64() { base64 < "$1" | tr -d '\n'; }
cat > "$out/secret.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: ${service}-tls
  namespace: ${namespace}
type: kubernetes.io/tls
data:
  tls.crt: $(b64 "$out/tls.crt")
  tls.key: $(b64 "$out/tls.key")
YAML
sed "s|caBundle: CA_BUNDLE|caBundle: $(b64 "$out/ca.crt")|" "$here/mutating-webhook.yaml" \
  > "$out/mutating-webhook.yaml"
chmod 644 "$out/ca.crt" "$out/tls.crt" "$out/mutating-webhook.yaml"
echo "wrote $out/{ca.crt,ca.key,tls.crt,tls.key,secret.yaml,mutating-webhook.yaml} for ${dns} (${days} days)"
