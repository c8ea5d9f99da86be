# CohortInstallSystem.cmake: included by the install script (install(CODE),
# see CohortPackage.cmake), never at configure time.
#
# cohort_install_system(SRC NAME ABSDIR RELDIR STAGE) installs the file SRC as
# NAME. Where it goes is decided at install time, from the install prefix
# then in force (so one build dir serves both `cmake --install --prefix /usr`
# or cpack, and a plain `cmake --install` into /usr/local):
# - prefix /usr (the Debian package): into ABSDIR (/etc/cohortd,
#   /lib/systemd/system), unchanged;
# - any other prefix P: into P/RELDIR, with every "/usr/bin/" and
#   "/etc/cohortd" in the file rewritten to "P/bin/" and "P/etc/cohortd", so
#   that units and configuration point at the files this install made.
# DESTDIR is honoured and the file lands in install_manifest.txt (both done by
# file(INSTALL)). The staged copy is written under STAGE/<md5 of the prefix>/.
function(cohort_install_system src name absdir reldir stage)
  string(REGEX REPLACE "/+$" "" prefix "${CMAKE_INSTALL_PREFIX}")
  file(READ "${src}" text)
  if(prefix STREQUAL "/usr")
    set(dir "${absdir}")
  else()
    set(dir "${prefix}/${reldir}")
    string(REPLACE "/usr/bin/" "${prefix}/bin/" text "${text}")
    string(REPLACE "/etc/cohortd" "${prefix}/etc/cohortd" text "${text}")
  endif()
  string(MD5 tag "${prefix}") # one staging dir per prefix: installs may run side by side
  set(stage "${stage}/${tag}")
  file(MAKE_DIRECTORY "${stage}")
  file(WRITE "${stage}/${name}" "${text}")
  file(INSTALL "${stage}/${name}" DESTINATION "${dir}"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  # file(INSTALL) appended to the manifest list in this function's scope.
  set(CMAKE_INSTALL_MANIFEST_FILES "${CMAKE_INSTALL_MANIFEST_FILES}" PARENT_SCOPE)
endfunction()
