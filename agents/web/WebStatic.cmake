# WebStatic.cmake: turns agents/web/static/*.{css,js} into C arrays
# (web_static.c in the build tree) at configure time; editing a static file
# re-runs the configure step (CMAKE_CONFIGURE_DEPENDS). cohort-report.css: the board reports' print
# rules (web_report.h).
function(cohort_web_static out)
  set(src "/* generated from agents/web/static by WebStatic.cmake: do not edit */\n#include <stddef.h>\n")
  foreach(pair "css;cohort-web.css" "js;cohort-web.js" "report_css;cohort-report.css")
    list(GET pair 0 var)
    list(GET pair 1 file)
    set(path ${CMAKE_CURRENT_SOURCE_DIR}/agents/web/static/${file})
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${path})
    file(READ ${path} hex HEX)
    string(LENGTH "${hex}" n)
    math(EXPR n "${n} / 2")
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
    string(APPEND src "const unsigned char web_static_${var}[] = {${hex}0};\nconst size_t web_static_${var}_len = ${n};\n")
  endforeach()
  file(WRITE ${out}.tmp "${src}")
  configure_file(${out}.tmp ${out} COPYONLY)
endfunction()
