#!/bin/sh
# Regenerates the OpenSSL-made PFX fixtures and the PEM the Azure provider writes
# for them (PKCS#8 key, then leaf, intermediate, root). Run by hand; tests only
# read the outputs. Needs OpenSSL 3.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
ec "$tmp/root.key"; ec "$tmp/inter.key"; ec "$tmp/leaf-ec.key"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/leaf-rsa.key"
printf 'basicConstraints=critical,CA:true\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$tmp/ca.ext"
printf 'basicConstraints=CA:false\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\nsubjectAltName=DNS:leaf.example\n' >"$tmp/leaf.ext"
openssl req -x509 -new -key "$tmp/root.key" -subj /CN=fixture-root -days 36500 \
  -addext basicConstraints=critical,CA:true -addext subjectKeyIdentifier=hash -out "$tmp/root.crt"
sign() { # key subject ca-cert ca-key ext out
  openssl req -new -key "$1" -subj "$2" -out "$tmp/req.csr"
  openssl x509 -req -in "$tmp/req.csr" -CA "$3" -CAkey "$4" -CAcreateserial -days 36500 -extfile "$5" -out "$6"
}
sign "$tmp/inter.key" /CN=fixture-intermediate "$tmp/root.crt" "$tmp/root.key" "$tmp/ca.ext" "$tmp/inter.crt"
sign "$tmp/leaf-rsa.key" /CN=leaf.example "$tmp/inter.crt" "$tmp/inter.key" "$tmp/leaf.ext" "$tmp/leaf-rsa.crt"
sign "$tmp/leaf-ec.key" /CN=leaf.example "$tmp/inter.crt" "$tmp/inter.key" "$tmp/leaf.ext" "$tmp/leaf-ec.crt"
cat "$tmp/root.crt" "$tmp/inter.crt" >"$tmp/cas.crt" # stored after the leaf: leaf, root, intermediate

# OpenSSL 3 defaults: PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256, HMAC-SHA256 MAC.
openssl pkcs12 -export -inkey "$tmp/leaf-rsa.key" -in "$tmp/leaf-rsa.crt" -certfile "$tmp/cas.crt" -passout pass: -out modern-rsa.pfx
# Legacy: 3DES for keys and certificates, SHA-1 MAC.
openssl pkcs12 -export -inkey "$tmp/leaf-ec.key" -in "$tmp/leaf-ec.crt" -certfile "$tmp/cas.crt" -passout pass: \
  -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 -out legacy-ec.pfx

for k in rsa ec; do
  { openssl pkey -in "$tmp/leaf-$k.key"
    for c in "leaf-$k" inter root; do openssl x509 -in "$tmp/$c.crt"; done
  } >"leaf-$k.chain.pem"
done
