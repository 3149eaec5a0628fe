# sanitizers.cmake - DAS_SANITIZE=address,undefined|thread builds everything with those
# sanitizers (CI runs the suite under ASan+UBSan).
set(DAS_SANITIZE "" CACHE STRING "Sanitizers to build with: address,undefined or thread")
if(DAS_SANITIZE)
  add_compile_options(-fsanitize=${DAS_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${DAS_SANITIZE})
endif()
