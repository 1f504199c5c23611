# SPDX-License-Identifier: GPL-2.0-only
#
# Runs at install time (`cmake --install`, and CPack building the .deb),
# when the final prefix is known: writes the files whose text names an
# installed path and installs them. packaging/CMakeLists.txt sets, before
# including this file:
#   IRQD_PART          runtime (the units, the udev rule, the default
#                      config) or dev (the pkg-config file)
#   IRQD_SOURCE_DIR    the project's source folder
#   IRQD_WORK_DIR      a build-tree folder for the generated files
#   IRQD_BINDIR, IRQD_INCLUDEDIR, IRQD_DATADIR
#                      GNUInstallDirs' folders, relative to the prefix or
#                      absolute
#   IRQD_VERSION       the project's version
#
# The configuration goes to /etc/irqd with the prefix /usr (the package)
# and to PREFIX/etc/irqd otherwise (GNUInstallDirs' rule), and the unit
# names that file. An existing irqd.toml is never overwritten: it is the
# administrator's (dpkg asks before replacing a changed conffile).

function(irqd_install_dir out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_irqd_confdir "/etc/irqd")
else()
  set(_irqd_confdir "${CMAKE_INSTALL_PREFIX}/etc/irqd")
endif()
irqd_install_dir(_irqd_bindir "${IRQD_BINDIR}")
irqd_install_dir(_irqd_includedir "${IRQD_INCLUDEDIR}")
irqd_install_dir(_irqd_datadir "${IRQD_DATADIR}")
file(MAKE_DIRECTORY "${IRQD_WORK_DIR}")

if(IRQD_PART STREQUAL "runtime")
  # The units and the udev rule in the source tree name /usr/local/bin/irqd
  # (and irqd.service /etc/irqd/irqd.toml); the installed ones name where
  # they went.
  file(READ "${IRQD_SOURCE_DIR}/packaging/systemd/irqd.service" _irqd_unit)
  string(REPLACE "/usr/local/bin/irqd" "${_irqd_bindir}/irqd" _irqd_unit "${_irqd_unit}")
  string(REPLACE "/etc/irqd/irqd.toml" "${_irqd_confdir}/irqd.toml" _irqd_unit "${_irqd_unit}")
  file(WRITE "${IRQD_WORK_DIR}/irqd.service" "${_irqd_unit}")
  # irqd-tune@.service and the udev rule run the installed irqd too. The
  # profiles stay in /etc/irqd/tune.d whatever the prefix: irqd itself
  # reads and writes them there, so that path is not rewritten.
  file(READ "${IRQD_SOURCE_DIR}/packaging/systemd/irqd-tune@.service" _irqd_tune_unit)
  string(REPLACE "/usr/local/bin/irqd" "${_irqd_bindir}/irqd" _irqd_tune_unit "${_irqd_tune_unit}")
  file(WRITE "${IRQD_WORK_DIR}/irqd-tune@.service" "${_irqd_tune_unit}")
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
       FILES "${IRQD_WORK_DIR}/irqd.service" "${IRQD_WORK_DIR}/irqd-tune@.service")
  file(READ "${IRQD_SOURCE_DIR}/packaging/udev/80-irqd-tune.rules" _irqd_rules)
  string(REPLACE "/usr/local/bin/irqd" "${_irqd_bindir}/irqd" _irqd_rules "${_irqd_rules}")
  file(WRITE "${IRQD_WORK_DIR}/80-irqd-tune.rules" "${_irqd_rules}")
  # lib/, not CMAKE_INSTALL_LIBDIR: udev reads /usr/lib/udev/rules.d (on
  # Debian 12 also /lib/udev/rules.d, the same folder on a merged /usr) and
  # /usr/local/lib/udev/rules.d.
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/udev/rules.d" TYPE FILE
       FILES "${IRQD_WORK_DIR}/80-irqd-tune.rules")

  if(EXISTS "$ENV{DESTDIR}${_irqd_confdir}/irqd.toml")
    message(STATUS "Keeping: $ENV{DESTDIR}${_irqd_confdir}/irqd.toml (the shipped default is "
                   "${IRQD_SOURCE_DIR}/packaging/irqd.toml)")
  else()
    file(INSTALL DESTINATION "${_irqd_confdir}" TYPE FILE FILES "${IRQD_SOURCE_DIR}/packaging/irqd.toml")
  endif()
elseif(IRQD_PART STREQUAL "dev")
  set(prefix "${CMAKE_INSTALL_PREFIX}")
  set(includedir "${_irqd_includedir}")
  configure_file("${IRQD_SOURCE_DIR}/packaging/irqd-driver.pc.in" "${IRQD_WORK_DIR}/irqd-driver.pc" @ONLY)
  file(INSTALL DESTINATION "${_irqd_datadir}/pkgconfig" TYPE FILE FILES "${IRQD_WORK_DIR}/irqd-driver.pc")
else()
  message(FATAL_ERROR "packaging/install.cmake: IRQD_PART '${IRQD_PART}' is neither runtime nor dev")
endif()
