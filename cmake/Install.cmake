# Install layout (R-39): what `cmake --install` puts where, and so what
# the Debian package holds (cmake/Package.cmake packs exactly this).
#
#   <prefix>/sbin/felhom-agent, <prefix>/bin/felhom-admin,
#   <prefix>/libexec/felhom-agent/felhom-privhelper (when built),
#   systemd units, sysusers.d and tmpfiles.d snippets, the docs,
#   /etc/felhom-agent/config.json.example (0600).
#
# The configuration and state directories are fixed (/etc/felhom-agent,
# /var/lib/felhom-agent): the agent's defaults and the unit's
# ConfigurationDirectory=/StateDirectory= name them whatever the prefix.
include(GNUInstallDirs)

set(FELHOM_CONFDIR "/etc/felhom-agent")
set(FELHOM_SBINDIR "${CMAKE_INSTALL_FULL_SBINDIR}")
set(FELHOM_LIBEXECDIR "${CMAKE_INSTALL_FULL_LIBEXECDIR}/felhom-agent")
set(FELHOM_DOCDIR "${CMAKE_INSTALL_FULL_DATAROOTDIR}/doc/felhom-agent")

# systemd's own directories for a /usr install (Debian 12: units in
# /lib/systemd/system), the prefix's otherwise (systemd also reads
# /usr/local/lib/systemd/system).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
	pkg_get_variable(_unitdir systemd systemdsystemunitdir)
	pkg_get_variable(_sysusersdir systemd sysusersdir)
	pkg_get_variable(_tmpfilesdir systemd tmpfilesdir)
endif()
if(NOT _unitdir)
	set(_unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
if(NOT _sysusersdir)
	set(_sysusersdir "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d")
endif()
if(NOT _tmpfilesdir)
	set(_tmpfilesdir "${CMAKE_INSTALL_PREFIX}/lib/tmpfiles.d")
endif()
set(FELHOM_UNITDIR "${_unitdir}" CACHE PATH "systemd system unit directory")
set(FELHOM_SYSUSERSDIR "${_sysusersdir}" CACHE PATH "sysusers.d directory")
set(FELHOM_TMPFILESDIR "${_tmpfilesdir}" CACHE PATH "tmpfiles.d directory")

# The units with this install's paths.
set(FELHOM_UNITS felhom-agent.service felhom-privhelper.socket
    felhom-privhelper.service)
foreach(u ${FELHOM_UNITS})
	configure_file(${CMAKE_SOURCE_DIR}/dist/systemd/${u}.in
	    ${CMAKE_BINARY_DIR}/dist/${u} @ONLY)
	install(FILES ${CMAKE_BINARY_DIR}/dist/${u}
	    DESTINATION ${FELHOM_UNITDIR})
endforeach()

install(TARGETS felhom-agent DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS felhom-admin DESTINATION ${CMAKE_INSTALL_BINDIR})
# The privileged helper joins the package once it is part of the build.
if(TARGET felhom-privhelper)
	install(TARGETS felhom-privhelper
	    DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/felhom-agent)
endif()

install(FILES ${CMAKE_SOURCE_DIR}/dist/sysusers.d/felhom-agent.conf
    DESTINATION ${FELHOM_SYSUSERSDIR})
install(FILES ${CMAKE_SOURCE_DIR}/dist/tmpfiles.d/felhom-agent.conf
    DESTINATION ${FELHOM_TMPFILESDIR})
# An example to copy: 0600 so that a copy holding secrets starts private.
install(FILES ${CMAKE_SOURCE_DIR}/dist/config.example.json
    DESTINATION ${FELHOM_CONFDIR} RENAME config.json.example
    PERMISSIONS OWNER_READ OWNER_WRITE)

# Documentation, with the Debian changelog (gzip -9n: reproducible).
configure_file(${CMAKE_SOURCE_DIR}/dist/debian/changelog.in
    ${CMAKE_BINARY_DIR}/dist/changelog @ONLY)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/dist/changelog.gz
    COMMAND gzip -9n -c ${CMAKE_BINARY_DIR}/dist/changelog
        > ${CMAKE_BINARY_DIR}/dist/changelog.gz
    DEPENDS ${CMAKE_BINARY_DIR}/dist/changelog
    COMMENT "Compressing the Debian changelog")
add_custom_target(felhom_changelog ALL
    DEPENDS ${CMAKE_BINARY_DIR}/dist/changelog.gz)
install(FILES ${CMAKE_SOURCE_DIR}/README.md
    ${CMAKE_SOURCE_DIR}/docs/install.md
    ${CMAKE_SOURCE_DIR}/docs/configuration.md
    ${CMAKE_SOURCE_DIR}/docs/recovery.md
    ${CMAKE_SOURCE_DIR}/docs/signatures.md
    ${CMAKE_SOURCE_DIR}/docs/sqlite-inspection.md
    ${CMAKE_SOURCE_DIR}/docs/state-machine.md
    ${CMAKE_SOURCE_DIR}/docs/architecture.md
    ${CMAKE_SOURCE_DIR}/dist/debian/copyright
    ${CMAKE_BINARY_DIR}/dist/changelog.gz
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/felhom-agent)

# Debian policy: man pages gzip -9n.  Runs after every other install
# rule (this file is included last), so man pages installed anywhere in
# the tree (felhom-admin(1), felhom-agent(8)) are compressed, in the
# package and in `cmake --install` alike.
install(CODE [[
	file(GLOB _felhom_man
	    "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/share/man/man*/felhom-*.[0-9]")
	foreach(_f ${_felhom_man})
		execute_process(COMMAND gzip -9nf "${_f}" RESULT_VARIABLE _r)
		if(_r)
			message(FATAL_ERROR "gzip ${_f} failed")
		endif()
	endforeach()
]])
