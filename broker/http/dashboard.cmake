# ---- The dashboard page (issue 18, item 2) ---------------------------------
# drover_dashboard: the page's files (broker/http/dashboard/), embedded in
# the broker at build time and looked up by path (dashboard_assets.h). The
# files are listed here, not globbed: a new one is added here as well as
# to index.html's list (tests/broker/dashboard_assets_test.cc checks that
# every file the page loads is embedded).
set(DROVER_DASHBOARD_FILES
  index.html
  dashboard.css
  format.js
  api.js
  rows.js
  overview.js
  graph.js
  timeline.js
  job.js
  app.js
)
set(_dashboard_dir ${CMAKE_CURRENT_LIST_DIR}/dashboard)
set(_dashboard_cc ${CMAKE_CURRENT_BINARY_DIR}/http/dashboard_files.cc)
file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/http)
list(TRANSFORM DROVER_DASHBOARD_FILES PREPEND ${_dashboard_dir}/ OUTPUT_VARIABLE _dashboard_paths)
list(JOIN DROVER_DASHBOARD_FILES "," _dashboard_names)
add_custom_command(
  OUTPUT ${_dashboard_cc}
  COMMAND ${CMAKE_COMMAND} -DDIR=${_dashboard_dir} -DFILES=${_dashboard_names} -DOUT=${_dashboard_cc}
          -P ${CMAKE_CURRENT_LIST_DIR}/embed_files.cmake
  DEPENDS ${_dashboard_paths} ${CMAKE_CURRENT_LIST_DIR}/embed_files.cmake
  COMMENT "Embedding the dashboard's files"
  VERBATIM)
add_library(drover_dashboard STATIC ${CMAKE_CURRENT_LIST_DIR}/dashboard_assets.cc ${_dashboard_cc})
target_include_directories(drover_dashboard PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(drover_dashboard PRIVATE drover_warnings)
# ---- end of the dashboard page ---------------------------------------------
