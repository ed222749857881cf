# install() with an exported package config, so that find_package(embcomp) works.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS embcomp EXPORT embcompTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/embcomp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT embcompTargets NAMESPACE embcomp::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/embcomp)

configure_package_config_file(cmake/embcompConfig.cmake.in
  ${PROJECT_BINARY_DIR}/embcompConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/embcomp)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/embcompConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/embcompConfig.cmake
              ${PROJECT_BINARY_DIR}/embcompConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/FindXXHash.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/embcomp)
