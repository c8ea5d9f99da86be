# CohortPackage.cmake: install rules for the files that are not build
# targets (systemd units, the sysusers.d entry, example configuration) and
# the Debian package (CPack DEB). Included from the top CMakeLists.txt after
# the install(TARGETS) rule; the man pages' rules are in CohortMan.cmake.
#
# Layout with the install prefix /usr (the package; `cmake --install build
# --prefix /usr` gives the same):
#   /usr/bin/{cohortd,cohortctl,cohort-agent,cohort-watch,cohort-bench,cohort-web}
#   /lib/systemd/system/{cohortd.service,cohort-agent@.service,cohort-web.service,
#                        cohort-web-report.service,cohort-web-report.timer}
#   /usr/lib/sysusers.d/cohortd.conf            (systemd/cohortd.sysusers)
#   /etc/cohortd/cohortd.conf                   (examples/cohortd.conf; a conffile)
#   /usr/share/doc/cohortd/examples/{cohort-agent.conf,cohort-web.conf}
#   /usr/share/doc/cohortd/copyright            (systemd/deb/copyright, DEP-5)
#   /usr/share/doc/cohortd/{README.md,*.md}     (README.md, docs/*.md)
#   /usr/share/man/manN/NAME.N.gz               (docs/man/NAME.N.md)
# With another prefix P, the units go to P/lib/systemd/system and the config
# to P/etc/cohortd, rewritten to point at P/bin and P/etc/cohortd
# (CohortInstallSystem.cmake); systemd and systemd-sysusers read
# /usr/local/lib/{systemd/system,sysusers.d} too.
#
# The package: `cpack -G DEB --config BUILD/CPackConfig.cmake -B OUTDIR` (or
# `cmake --build BUILD --target package`) makes OUTDIR/cohortd_VERSION-1_ARCH.deb
# from a built tree, whatever prefix the tree was configured with: CPack
# installs it with DESTDIR and the prefix /usr. Maintainer scripts are in
# systemd/deb/ (what they do is described there). Needs dpkg-dev
# (dpkg-shlibdeps) and file, for the generated Depends.

# ---- files a Debian package puts outside /usr ---------------------------
set(COHORT_INSTALL_STAGE ${CMAKE_BINARY_DIR}/install-stage)

# Installs src as name into absdir (prefix /usr) or PREFIX/reldir (see
# CohortInstallSystem.cmake; decided at install time).
function(cohort_install_outside_usr src name absdir reldir)
  install(CODE "include(\"${PROJECT_SOURCE_DIR}/systemd/deb/CohortInstallSystem.cmake\")
cohort_install_system(\"${src}\" \"${name}\" \"${absdir}\" \"${reldir}\" \"${COHORT_INSTALL_STAGE}\")")
endfunction()

foreach(unit cohortd.service cohort-agent@.service cohort-web.service cohort-web-report.service
    cohort-web-report.timer)
  cohort_install_outside_usr(${PROJECT_SOURCE_DIR}/systemd/${unit} ${unit}
    /lib/systemd/system lib/systemd/system)
endforeach()
cohort_install_outside_usr(${PROJECT_SOURCE_DIR}/examples/cohortd.conf cohortd.conf
  /etc/cohortd etc/cohortd)
# Not CMAKE_INSTALL_LIBDIR: sysusers.d is lib/ even on multiarch Debian.
install(FILES systemd/cohortd.sysusers DESTINATION lib/sysusers.d RENAME cohortd.conf)
install(FILES examples/cohort-agent.conf examples/cohort-web.conf
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# ---- /usr/share/doc/cohortd: the copyright file and the documentation ------
# Debian policy 12.5: every package has /usr/share/doc/PACKAGE/copyright; it
# is machine-readable (DEP-5) and carries the licence of docs/LICENSE. The
# guides go beside it: the README and every docs/*.md (a page added to docs/
# is picked up by the next build: the glob is CONFIGURE_DEPENDS). The man
# page sources (docs/man/) are not shipped: the pages themselves are.
install(FILES systemd/deb/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB COHORT_DOCS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES README.md ${COHORT_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- the Debian package --------------------------------------------------
set(COHORT_DEB_MAINTAINER
  "cohortd maintainers <maintainers@users.noreply.h-seed-12a666c0.example>"
  CACHE STRING "Maintainer field of the .deb (Name <email>)")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cohortd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${COHORT_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${COHORT_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # cohortd_0.1.0-1_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"durable shared event log for a cross-agency development programme
cohortd receives events from each agency's agent as protobuf over ZeroMQ,
encrypted and authenticated with CURVE, stores them in an append-only,
deduplicated log in RocksDB, acknowledges each once it is on disk, and
publishes the programme status derived from them.

This package holds the daemon (cohortd), the operator tool (cohortctl), the
agency agent (cohort-agent), the status viewer (cohort-watch), the load
generator (cohort-bench), their systemd units, man pages and guides.")
# Library dependencies come from dpkg-shlibdeps; the postinst runs
# systemd-sysusers (Debian's dh_installsysusers depends the same way).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | systemd-standalone-sysusers | systemd-sysusers")
set(CPACK_STRIP_FILES ON)
# Install with DESTDIR and the prefix /usr, so /etc and /lib files (above)
# land in the package, whatever prefix the build tree was configured with.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# conffiles: dpkg keeps the administrator's edits across upgrades and asks
# before replacing them; removed only on purge.
file(WRITE ${CMAKE_BINARY_DIR}/deb/conffiles "/etc/cohortd/cohortd.conf\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_BINARY_DIR}/deb/conffiles
  ${PROJECT_SOURCE_DIR}/systemd/deb/postinst
  ${PROJECT_SOURCE_DIR}/systemd/deb/prerm
  ${PROJECT_SOURCE_DIR}/systemd/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON) # scripts 0755, conffiles 0644
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "/cohort-data/")
include(CPack)
