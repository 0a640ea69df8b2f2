"""Constants of Pixelcopter under the course's settings (all from the spec's table).

Screen and slot capacities, the physics constants (float64, as the original computes them),
block and terrain geometry, the random draws' ranges, rewards and the sprites' colours.
"""

SCREEN = 48  #: screen width = height, pixels (fixed)
BLOCK_CAPACITY = 4  #: slots for blocks (at most 2 are ever alive)
TERRAIN_CAPACITY = 64  #: slots for terrain pieces (at most 61 are ever alive)
TERRAIN_BATCH = 48  #: pieces made by one call of "make terrain"
X_UNITS = 25  #: horizontal positions are stored as int32 multiples of 1/X_UNITS px

_W = SCREEN
_H = SCREEN
_SPEED = 0.0004 * _W  # 0.0192 px/ms (float64, as the original)
_DT = 1000.0 / 30.0  # ms per step (force_fps at 30 fps)
_CLIMB_DV = (_SPEED * -0.875) * _DT  # momentum change while thrusting (float64)
_FALL_DV = (_SPEED * 0.09) * _DT  # momentum change otherwise (float64)
_DECAY = 0.99
_SCROLL_UNITS = 16  # 0.64 px per step, in 1/25 px
PLAYER_X = int(0.35 * _W)  # 16
_PLAYER_XQ = PLAYER_X * X_UNITS
_PLAYER_SIZE = 2  # collision rectangle of the copter (2 x 2)
_PLAYER_HEIGHT = _H * 0.05  # 2.4000000000000004: the float used in the ceiling test
_PLAYER_START_Y = _H / 2.0
_BLOCK_W = int(_W * 0.1)  # 4
_BLOCK_H = int(_H * 0.2)  # 9
_TERRAIN_W = int(_W * 0.1)  # 4
_TERRAIN_H = int(_H * 1.5)  # 72
_CAVE_HALF = int(_H * 0.25)  # 12
_BLOCK_X_RANGE = (_W, int(1.5 * _W))  # randint [48, 72)
_BLOCK_Y_RANGE = (int(0.25 * _H), int(0.75 * _H))  # randint [12, 36)
_TERRAIN_FREQ = 4.5 / _W  # 0.09375, exact in float32
_TERRAIN_FREQ_JITTER = 0.01  # u ~ U(-0.01, 0.01)
_TERRAIN_PHASE_MAX = 0.5  # phases ~ U(0, 0.5)
_TERRAIN_AMPLITUDE = _H * 0.125  # 6
_TERRAIN_REGEN_AT = 10 + 3  # make terrain when this many pieces or fewer remain
_TERRAIN_REGEN_START = _W  # make terrain (48, 240) during play
_Y_MIN = _H * 0.125  # 6: above is a crash
_Y_MAX = _H * 0.875  # 42: below is a crash
_REWARD_POSITIVE = 1.0
_REWARD_LOSS = -5.0
_NO_BLOCK_DIST = 999.0  # the original's "no block ahead" distance

# Colours of the original sprites (background black, walls and blocks green, copter white).
_BACKGROUND = (0, 0, 0)
_WALL_COLOUR = (120, 240, 80)
_BLOCK_COLOUR = (120, 240, 80)
_COPTER_COLOUR = (255, 255, 255)

OBS_SIZE = 7
