// Package config turns a MountRequest's attributes, secrets and permission into one
// validated, typed Mount. It is pure: no network, no files, no environment reads.
//
// Parse accepts the Azure Key Vault provider's parameter surface unchanged: the same
// keys (case-sensitive), strings.TrimSpace on every value, strconv.ParseBool for the
// identity flags, tenantID over the deprecated tenantId, the objects YAML double encoding
// with exact-case fields, and unknown parameters and fields ignored (Lint reports them).
// Error texts users grep for are kept verbatim, with a short fix hint appended after
// "; fix: ". Every validation error matches ErrInvalid; per-object ones are
// *vocab.ObjectError.
//
// Parse and Lint are one validation walk: Parse returns its first SeverityInvalid
// finding, Lint every finding. Outputs says which files an object writes.
//
// Deliberate differences from the Azure provider (v1.8.2):
//
//   - objectType is validated with the other fields, before any network call, and
//     case-sensitively ("Invalid vaultObjectTypes. Should be secret, key, or cert",
//     wrapped with the object); upstream only fails once the Key Vault client exists.
//   - An object without objectName (only objectAlias) is rejected up front; upstream
//     sends a request for an empty name.
//   - The "PFX format only supported for objectType: secret" check is case-insensitive,
//     so objectFormat: PFX with a key or cert is rejected too.
//   - An invalid filePermission is an error ("invalid filePermission \"<v>\": must be an
//     octal mode such as 0644") instead of silently becoming mode 0; bits above 0777
//     (setuid, setgid, sticky) are rejected.
//   - objectVersionHistory < 0 is an error.
//   - Output paths must be clean relative paths, as the driver requires when it writes
//     the files: besides upstream's rules (not empty, not absolute, no "..") no
//     backslash, no Windows drive prefix, no NUL, no empty or "." element, no trailing
//     "/", each element at most 255 bytes and the whole at most 4096. The driver would
//     fail the mount after the fetch; failing first names the object and the field.
//   - Two objects (or jmesPath entries) writing the same path, or one needing as a
//     directory a path another writes as a file (objectVersionHistory writes
//     <name>/<i>), is an error naming both objects. A file colliding with the .crt/.key
//     companion of a splitCertAndKey object is caught too.
//   - With useVMManagedIdentity or usePodIdentity, clientID no longer makes a service
//     account token for api://AzureADTokenExchange mandatory.
//   - Service account tokens are also read from the secrets map under the same key
//     (driver v1.6 with serviceAccountTokenInSecrets), when the attribute is empty.
//   - Without clientID and without any nodePublishSecretRef (the driver sends {}), the
//     error says that either clientID or a nodePublishSecretRef is needed; clientid and
//     clientsecret values are trimmed and an empty value counts as missing.
//   - Errors about service account tokens never quote the tokens JSON (encoding/json
//     syntax errors would quote a character of it): they give a byte offset instead.
//
// kvcsi extension fields of an object, which change nothing when absent: keyvaultName
// (per-object vault), certificatePart (full, chain, key), splitCertAndKey,
// convertPFXToPEM and jmesPath (a list of {path, objectAlias, filePermission}); all but
// keyvaultName are for objectType secret only.
package config
