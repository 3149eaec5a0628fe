# warnings.cmake - the warning flags for the project's own code (not for apps or libraries).
function(das_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
                                           -Wno-unused-parameter)
endfunction()
