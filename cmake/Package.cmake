# The Debian package (R-39): `cpack --preset release` (or `cpack -G DEB`
# in a build directory) builds felhom-agent_<version>_<arch>.deb from
# the install rules of cmake/Install.cmake, with dpkg-shlibdeps finding
# the library dependencies and dist/debian's maintainer scripts creating
# the felhom user and state directory and enabling the units.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME felhom-agent)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR felhom)
set(CPACK_PACKAGE_CONTACT "felhom maintainers <packages@felhom.example.net>")
# The units name the binaries by the install prefix: package what they
# name (the release preset installs to /usr).
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "felhom agent: keeps a Proxmox VE host at its hub's desired state")
# The extended description (CPack puts the summary above it and indents).
set(CPACK_PACKAGE_DESCRIPTION
    "felhom-agent runs on each Proxmox VE host as an unprivileged systemd
service. It reports the host and its containers to the felhom hub, takes
desired state and operator-signed operations from the hub, and drives the
containers toward that state through the local Proxmox API. Destructive
changes need an operator's SSH signature verified on the host.

felhom-admin is the operator's command: the state database, pending
operations and their approval with ssh-keygen signatures.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The maintainer scripts use systemd-sysusers and systemd-tmpfiles
# (deb-systemd-helper comes with the essential init-system-helpers).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
# dpkg keeps an administrator's edits of these across upgrades.
file(WRITE ${CMAKE_BINARY_DIR}/dist/conffiles
    "/etc/felhom-agent/config.json.example\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/dist/debian/postinst
    ${CMAKE_SOURCE_DIR}/dist/debian/prerm
    ${CMAKE_SOURCE_DIR}/dist/debian/postrm
    ${CMAKE_BINARY_DIR}/dist/conffiles)
include(CPack)
