# CohortMan.cmake: man pages from Markdown (go-md2man).
#
# cohort_man_pages(DIR) takes every DIR/NAME.SECTION.md and, at build time,
# generates build/man/NAME.SECTION and build/man/NAME.SECTION.gz through
# ManPage.cmake (which also checks the page: see there). The pages belong to
# the target `man`, part of ALL, so a broken page fails the build. Each .gz
# is installed as share/man/manSECTION/NAME.SECTION.gz (gzip -9n, as Debian
# policy wants). Adding a page is dropping a file in DIR: the glob is
# CONFIGURE_DEPENDS, so the next build picks it up.
#
# Needs go-md2man and groff (Debian: go-md2man, groff-base; see .ci/setup).

find_program(GO_MD2MAN go-md2man)
find_program(GROFF groff)
if(NOT GO_MD2MAN OR NOT GROFF)
  message(FATAL_ERROR "go-md2man and groff are needed for the man pages "
    "(Debian: apt-get install go-md2man groff-base; see .ci/setup)")
endif()

function(cohort_man_pages dir)
  file(GLOB sources CONFIGURE_DEPENDS ${dir}/*.md)
  set(outputs "")
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/man)
  foreach(src ${sources})
    get_filename_component(file ${src} NAME)
    string(REGEX REPLACE "\\.md$" "" page "${file}")
    if(NOT page MATCHES "\\.([1-9])$")
      message(FATAL_ERROR "${src}: a man page source must be named NAME.SECTION.md (SECTION 1-9)")
    endif()
    set(section ${CMAKE_MATCH_1})
    set(out ${CMAKE_BINARY_DIR}/man/${page})
    add_custom_command(OUTPUT ${out} ${out}.gz
      COMMAND ${CMAKE_COMMAND} -DSRC=${src} -DOUT=${out} -DVERSION=${PROJECT_VERSION}
              -DMD2MAN=${GO_MD2MAN} -DGROFF=${GROFF} -P ${PROJECT_SOURCE_DIR}/docs/man/ManPage.cmake
      DEPENDS ${src} ${PROJECT_SOURCE_DIR}/docs/man/ManPage.cmake
      COMMENT "man page ${page}"
      VERBATIM)
    list(APPEND outputs ${out} ${out}.gz)
    install(FILES ${out}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  add_custom_target(man ALL DEPENDS ${outputs})
endfunction()
