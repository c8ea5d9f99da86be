# ManPage.cmake: builds one man page; run by cohort_man_pages() (CohortMan.cmake)
# as  cmake -DSRC=docs/man/NAME.SECTION.md -DOUT=build/man/NAME.SECTION
#           -DVERSION=x.y.z -DMD2MAN=/usr/bin/go-md2man -DGROFF=/usr/bin/groff -P ManPage.cmake
#
# Contract: writes OUT (roff) and OUT.gz (gzip -9n: no name or time stamp in
# the header, so the package is reproducible), or fails with a message naming
# SRC when the page is broken. Broken means: go-md2man fails; the page does
# not start with its title line ("% NAME SECTION ..." with the NAME and
# SECTION of its file name); it has no NAME or SYNOPSIS section, or its NAME
# section is not "NAME - what it is" (what whatis/apropos read); or groff
# warns about it (-ww, except the cosmetic "cannot adjust line" of -Wbreak:
# e.g. a text line starting with '.' or '\'' taken as a request).
# "@PROJECT_VERSION@" in the source becomes VERSION, for the title line's
# footer. A ".nh" is added after .TH (see below).
foreach(v SRC OUT VERSION MD2MAN GROFF)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "ManPage.cmake: -D${v}=... is required")
  endif()
endforeach()

get_filename_component(file ${SRC} NAME)            # cohort-agent.1.md
string(REGEX REPLACE "\\.md$" "" page "${file}")    # cohort-agent.1
string(REGEX MATCH "^(.+)\\.([1-9])$" ok "${page}")
if(NOT ok)
  message(FATAL_ERROR "${SRC}: a man page source must be named NAME.SECTION.md (SECTION 1-9)")
endif()
set(name "${CMAKE_MATCH_1}")
set(section "${CMAKE_MATCH_2}")

file(READ "${SRC}" md)
string(REPLACE "@PROJECT_VERSION@" "${VERSION}" md "${md}")
file(WRITE "${OUT}.tmp.md" "${md}")
execute_process(COMMAND ${MD2MAN} -in "${OUT}.tmp.md" -out "${OUT}"
  RESULT_VARIABLE rc ERROR_VARIABLE err)
file(REMOVE "${OUT}.tmp.md")
if(NOT rc EQUAL 0)
  file(REMOVE "${OUT}")
  message(FATAL_ERROR "${SRC}: go-md2man failed (${rc}): ${err}")
endif()

file(READ "${OUT}" roff)
# go-md2man puts ".nh" (no hyphenation) before .TH, which turns it on again:
# repeat it after, so options like --rescan-ms are never split.
string(REGEX REPLACE "(\n\\.TH [^\n]*\n)" "\\1.nh\n" roff "${roff}")
file(WRITE "${OUT}" "${roff}")
set(problems "")
string(REGEX MATCH "\n\\.TH ([^ \n]+) ([^ \n]+)" th "\n${roff}")
if(NOT th OR NOT CMAKE_MATCH_1 STREQUAL name OR NOT CMAKE_MATCH_2 STREQUAL section)
  string(APPEND problems "\n  the first line must be the title: % ${name} ${section} \"\" \"cohortd @PROJECT_VERSION@\" \"cohortd manual\"")
endif()
foreach(s NAME SYNOPSIS)
  if(NOT roff MATCHES "\n\\.SH ${s}\n")
    string(APPEND problems "\n  no '# ${s}' section")
  endif()
endforeach()
string(REGEX MATCH "\n\\.SH NAME\n(\\.PP\n)?([^\n]*)" nm "${roff}")
string(REGEX REPLACE "\\\\f[BIPR]" "" nameline "${CMAKE_MATCH_2}")
if(nm AND NOT nameline MATCHES "^${name}(, [^ ]+)* \\\\?- .")
  string(APPEND problems "\n  the NAME section must read '${name} - what it is' (for whatis), not '${nameline}'")
endif()
execute_process(COMMAND ${GROFF} -man -Tutf8 -ww -Wbreak -z "${OUT}"
  RESULT_VARIABLE rc ERROR_VARIABLE warn)
if(NOT rc EQUAL 0 OR NOT warn STREQUAL "")
  string(APPEND problems "\n  groff -ww: ${warn}")
endif()
if(NOT problems STREQUAL "")
  file(REMOVE "${OUT}")
  message(FATAL_ERROR "${SRC}: broken man page:${problems}")
endif()

execute_process(COMMAND gzip -9n -c "${OUT}" OUTPUT_FILE "${OUT}.gz" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE "${OUT}" "${OUT}.gz")
  message(FATAL_ERROR "${SRC}: gzip -9n ${OUT} failed")
endif()
