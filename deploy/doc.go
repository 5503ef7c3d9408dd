// Package deploy holds no code. It is gannet's packaging — the systemd
// unit (systemd/), the configuration the package and the image ship
// (gannet.yaml), the Debian maintainer scripts (debian/); the Dockerfile
// is at the top of the repository and scripts/deb.sh builds the package —
// and the tests that prove them: the unit verifies offline, the Debian
// package installs, works and is removed without a trace, and the
// container image's final stage runs. e2e/privileges_test.go proves the
// unit's capability set.
package deploy
